--[[
  queue-sweep: give the places of admitted buyers whose token expired unused to the next in line.
  Idempotent and safe to run from every API pod at once (no loop is a single point of failure):
  each expired token is marked (score 1) and counted into qExpired exactly once.

  KEYS[1] meta    fg:{p}:meta
  KEYS[2] tokens  fg:{p}:qtok
  ARGV[1] most tokens to mark in one call

  Returns the number of tokens marked expired.
]]
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ids = redis.call('ZRANGEBYSCORE', KEYS[2], 2, now, 'LIMIT', 0, tonumber(ARGV[1]))
for _, id in ipairs(ids) do redis.call('ZADD', KEYS[2], 'XX', 1, id) end
if #ids > 0 then redis.call('HINCRBY', KEYS[1], 'qExpired', #ids) end
return #ids
