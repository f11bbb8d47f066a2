--[[
  queue-poll: what a waiting buyer's poll needs, read from ONE key with Redis's own clock (API pods'
  clocks may differ; the serving counter is a function of time).

  KEYS[1] meta  fg:{p}:meta

  Returns {nowMs, state, startsAt, endsAt, admMode, admRate, qJoined, qBase, qBaseAt, qExpired, qEarly, qSeed, qSoldOut}
  (false for a missing field; state false = the sale is not in Redis).
]]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local m = redis.call('HMGET', KEYS[1], 'state', 'startsAt', 'endsAt', 'admMode', 'admRate', 'qJoined', 'qBase', 'qBaseAt', 'qExpired', 'qEarly', 'qSeed', 'qSoldOut')
return {now, m[1], m[2], m[3], m[4], m[5], m[6], m[7], m[8], m[9], m[10], m[11], m[12]}
