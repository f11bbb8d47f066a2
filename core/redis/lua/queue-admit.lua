--[[
  queue-admit: hand out the admission token of a place the serving counter reached, once.
  Invariant: one token per user per sale; its expiry is fixed at the first call (a repeated call
  returns the same one), and no token is handed out once the sale is sold out or ended.

  KEYS[1] meta    fg:{p}:meta
  KEYS[2] queue   fg:{p}:q
  KEYS[3] tokens  fg:{p}:qtok   sorted set userId -> expiry ms (live) | 1 (expired unused) | -expiry (used)
  ARGV[1] userId  ARGV[2] the ticket's join value ("<number>:<second>")  ARGV[3] the place in line (after the start permutation)

  Returns {'admitted', expiryMs, new 0|1} | {'used', expiryMs} | {'expired'} | {'waiting'} | {'unknown'} (no such
  place: the queue was lost or the ticket is from another one) | {'sold_out'} | {'ended'}
]]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[2] then return {'unknown'} end
local m = redis.call('HMGET', KEYS[1], 'endsAt', 'admRate', 'qJoined', 'qBase', 'qBaseAt', 'qExpired', 'qSoldOut', 'admTtl')
local n = function(i) return tonumber(m[i] or '0') or 0 end
local score = redis.call('ZSCORE', KEYS[3], ARGV[1])
if score then
  score = tonumber(score)
  if score < 0 then return {'used', -score} end
  if score == 1 or score <= now then return {'expired'} end
end
if m[7] == '1' then return {'sold_out'} end
if n(1) > 0 and now >= n(1) then return {'ended'} end
if score then return {'admitted', score, 0} end
local rate, joined, base, baseAt, expired = n(2), n(3), n(4), n(5), n(6)
local served = math.min(joined, base + expired + math.max(0, math.floor((now - baseAt) * rate / 1000)))
if tonumber(ARGV[3]) > served then return {'waiting'} end
local expiry = now + math.max(1, n(8)) * 1000
redis.call('ZADD', KEYS[3], expiry, ARGV[1])
return {'admitted', expiry, 1}
