--[[
  queue-sweep: give the slots of admissions nobody used to the next in line.
  Idempotent and safe to run from every API pod at once (no loop is a single point of failure):
  each slot is counted into qExpired exactly once. Two kinds of unused slot:
   - a token handed out and expired unused: marked (score 1) and counted;
   - a place the counter reached tokenTtlSeconds ago whose token was never even fetched (the buyer
     stopped polling): counted when the watermark qSettled passes it. The time a count of places
     was reached is recorded here (KEYS[3], at most once per new count), so a place's admission
     runs out at most one sweep period late, never early; queue-admit.lua refuses such places.

  KEYS[1] meta    fg:{p}:meta     qExpired, qSettled (every place <= it was claimed or counted)
  KEYS[2] tokens  fg:{p}:qtok
  KEYS[3] reach   fg:{p}:qreach   sorted set: served count -> Redis ms when first seen
  KEYS[4] claims  fg:{p}:qclaim   places whose token was handed out (score = member = place)
  ARGV[1] most tokens to mark in one call

  Returns the number of slots given to the next in line by this call.
]]
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ids = redis.call('ZRANGEBYSCORE', KEYS[2], 2, now, 'LIMIT', 0, tonumber(ARGV[1]))
for _, id in ipairs(ids) do redis.call('ZADD', KEYS[2], 'XX', 1, id) end
local freed = #ids

local m = redis.call('HMGET', KEYS[1], 'admRate', 'qJoined', 'qBase', 'qBaseAt', 'qExpired', 'admTtl', 'qSettled', 'admMode')
local n = function(i) return tonumber(m[i] or '0') or 0 end
if m[8] == 'queue' or m[8] == 'queue-randomized-start' then
  local rate, joined, base, baseAt, expired = n(1), n(2), n(3), n(4), n(5) + freed
  local served = math.min(joined, base + expired + math.max(0, math.floor((now - baseAt) * rate / 1000)))
  local last = redis.call('ZREVRANGE', KEYS[3], 0, 0)
  if served > 0 and (not last[1] or served > tonumber(last[1])) then redis.call('ZADD', KEYS[3], now, served) end
  local old = redis.call('ZREVRANGEBYSCORE', KEYS[3], now - math.max(1, n(6)) * 1000, '-inf', 'LIMIT', 0, 1, 'WITHSCORES')
  if old[1] then
    local reached, settled = tonumber(old[1]), n(7)
    if reached > settled then
      local claimed = redis.call('ZCOUNT', KEYS[4], settled + 1, reached)
      freed = freed + (reached - settled - claimed)
      redis.call('HSET', KEYS[1], 'qSettled', reached)
      redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', reached)
    end
    redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. old[2])
  end
end
if freed > 0 then redis.call('HINCRBY', KEYS[1], 'qExpired', freed) end
return freed
