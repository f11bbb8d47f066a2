--[[
  sale-node: the run_id of the Redis node that holds the sale's keys (on a Cluster, the master of
  the sale's slot: the key routes the script there), and whether the sale is fenced on it.
  A restart or a promoted replica changes the run_id; the fence (seed.lua's seedTerm, this node's
  replication id when it was seeded) also catches a node demoted, resynced and promoted again,
  whose run_id stays.

  KEYS[1] meta   fg:{p}:meta

  Returns {run_id (40 hex digits), fenced 1|0}, or an error when INFO has no run_id.
]]
local id = string.match(redis.call('INFO', 'server'), 'run_id:(%x+)')
if not id then return redis.error_reply('INFO server has no run_id') end
local term = redis.call('HGET', KEYS[1], 'seedTerm')
local fenced = 0
if term and not string.find(redis.call('INFO', 'replication'), 'master_replid:' .. term, 1, true) then fenced = 1 end
return {id, fenced}
