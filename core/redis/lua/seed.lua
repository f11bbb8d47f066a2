--[[
  seed: load one sale into Redis from PostgreSQL's figures and open its gate.
  Replaces the stock and the whole config, bumps the epoch (fencing compensations of reservations
  made before), keeps idempotency records and per-user counters.

  KEYS[1] stock  fg:{p}:stock
  KEYS[2] meta   fg:{p}:meta
  KEYS[3] epoch  fg:{p}:epoch
  ARGV[1] stock  ARGV[2] startsAt ms (0 = none)  ARGV[3] endsAt ms (0 = none)
  ARGV[4] rateLimit per second (0 = none)  ARGV[5] perUserLimit (0 = none)  ARGV[6] initialStock
  ARGV[7] gate state after seeding (open | paused)

  Returns the new epoch.
]]
local t = redis.call('TIME')
redis.call('SET', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[2],
  'state', ARGV[7], 'startsAt', ARGV[2], 'endsAt', ARGV[3], 'rateLimit', ARGV[4],
  'perUserLimit', ARGV[5], 'initialStock', ARGV[6], 'seededAt', tonumber(t[1]) * 1000)
return redis.call('INCR', KEYS[3])
