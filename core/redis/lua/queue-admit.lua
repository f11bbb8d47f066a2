--[[
  queue-admit: hand out the admission token of a place the serving counter reached, once.
  Invariant: one token per user per sale; its expiry is fixed at the first call (a repeated call
  returns the same one), and no token is handed out once the sale is sold out or ended, nor for a
  place whose admission ran out unclaimed (tokenTtlSeconds after the counter reached it: that slot
  went to the next in line, queue-sweep.lua).

  KEYS[1] meta    fg:{p}:meta
  KEYS[2] queue   fg:{p}:q
  KEYS[3] tokens  fg:{p}:qtok    sorted set userId -> expiry ms (live) | 1 (expired unused) | -expiry (used)
  KEYS[4] user    fg:{p}:user:<userId>  units the user reserved (a used token is good for perUserLimit in all)
  KEYS[5] reach   fg:{p}:qreach  sorted set: served count -> Redis ms when a sweep first saw it (queue-sweep.lua)
  KEYS[6] claims  fg:{p}:qclaim  sorted set of places whose token was handed out (score = member = place)
  ARGV[1] userId  ARGV[2] the ticket's join value ("<number>:<second>")  ARGV[3] the place in line (after the start permutation)

  Returns {'admitted', expiryMs, new 0|1} | {'used', expiryMs} | {'expired'} | {'waiting'} | {'unknown'} (no such
  place: the queue was lost or the ticket is from another one) | {'sold_out'} | {'ended'}
]]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[2] then return {'unknown'} end
local m = redis.call('HMGET', KEYS[1], 'endsAt', 'admRate', 'qJoined', 'qBase', 'qBaseAt', 'qExpired', 'qSoldOut', 'admTtl', 'perUserLimit', 'qSettled')
local n = function(i) return tonumber(m[i] or '0') or 0 end
local live = nil
local score = redis.call('ZSCORE', KEYS[3], ARGV[1])
if score then
  score = tonumber(score)
  if score < 0 then
    -- Used for an order: still admitted while its holder may buy more (reserve.lua's rule) and it lives.
    local limit = n(9)
    if limit <= 0 or tonumber(redis.call('GET', KEYS[4]) or '0') >= limit or -score <= now then return {'used', -score} end
    live = -score
  elseif score == 1 or score <= now then
    return {'expired'}
  else
    live = score
  end
end
if m[7] == '1' then return {'sold_out'} end
if n(1) > 0 and now >= n(1) then return {'ended'} end
if live then return {'admitted', live, 0} end
local place = tonumber(ARGV[3])
local ttlMs = math.max(1, n(8)) * 1000
-- Reached more than ttlMs ago (by the sweeps' record) and never claimed: the slot is gone.
local old = redis.call('ZREVRANGEBYSCORE', KEYS[5], now - ttlMs, '-inf', 'LIMIT', 0, 1)
if place <= n(10) or (old[1] and place <= tonumber(old[1])) then return {'expired'} end
local rate, joined, base, baseAt, expired = n(2), n(3), n(4), n(5), n(6)
local served = math.min(joined, base + expired + math.max(0, math.floor((now - baseAt) * rate / 1000)))
if place > served then return {'waiting'} end
local expiry = now + ttlMs
redis.call('ZADD', KEYS[3], expiry, ARGV[1])
redis.call('ZADD', KEYS[6], place, place)
return {'admitted', expiry, 1}
