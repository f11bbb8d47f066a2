--[[
  node-run-id: the run_id of the Redis node that holds the sale's keys (on a Cluster, the master of
  the sale's slot: the key routes the script there). A restart or a promoted replica changes it.

  KEYS[1] meta   fg:{p}:meta (only routes the call; not read)

  Returns the run_id (40 hex digits), or an error when INFO has none.
]]
local id = string.match(redis.call('INFO', 'server'), 'run_id:(%x+)')
if not id then return redis.error_reply('INFO server has no run_id') end
return id
