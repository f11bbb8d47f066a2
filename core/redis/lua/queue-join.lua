--[[
  queue-join: give a user one place in a queued sale's line (the same place when they join again).
  Invariant: one place per user per sale; join numbers are handed out in arrival order (HINCRBY in
  one script), so FIFO order is the order Redis ran these calls in.

  KEYS[1] meta   fg:{p}:meta   admission settings (adm*) and the queue's counters (q*)
  KEYS[2] queue  fg:{p}:q      hash userId -> "<join number>:<join unix second>"
  KEYS[3] stock  fg:{p}:stock
  ARGV[1] userId  ARGV[2] random seed of the start permutation (kept if one is set already)

  The serving counter (how many places are admitted) is computed from time, never advanced by a loop:
    served(t) = min(qJoined, qBase + qExpired + max(0, floor((t - qBaseAt) * admRate / 1000)))
  A join into an empty line (everyone admitted) restarts the clock so that the newcomer is admitted
  at max(now, startsAt, the previous admission + 1/admRate): idle time is never banked as a burst.

  Returns {'joined', value, existed 0|1, <the fields of queue-poll.lua>}
        | {'not_queued'} | {'not_seeded'} | {'ended'} | {'sold_out'} | {'queue_full', waiting}
]]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local FIELDS = {'state', 'startsAt', 'endsAt', 'admMode', 'admRate', 'qJoined', 'qBase', 'qBaseAt', 'qExpired', 'qEarly', 'qSeed', 'qSoldOut', 'admMax'}
local m = redis.call('HMGET', KEYS[1], unpack(FIELDS))
if not m[1] then return {'not_seeded'} end
local mode = m[4]
if mode ~= 'queue' and mode ~= 'queue-randomized-start' then return {'not_queued'} end
local n = function(i) return tonumber(m[i] or '0') or 0 end
local endsAt = n(3)
if endsAt > 0 and now >= endsAt then return {'ended'} end
local stock = redis.call('GET', KEYS[3])
if m[12] == '1' or (stock and tonumber(stock) <= 0) then return {'sold_out'} end

local function reply(value, existed)
  m = redis.call('HMGET', KEYS[1], unpack(FIELDS))
  return {'joined', value, existed, now, m[1], m[2], m[3], m[4], m[5], m[6], m[7], m[8], m[9], m[10], m[11], m[12]}
end

local existing = redis.call('HGET', KEYS[2], ARGV[1])
if existing then return reply(existing, 1) end

local startsAt, rate, joined, base, baseAt, expired = n(2), n(5), n(6), n(7), n(8), n(9)
local gap = 1000 / math.max(rate, 1e-9)
local served = math.min(joined, base + expired + math.max(0, math.floor((now - baseAt) * rate / 1000)))
local maxQueue = n(13)
if maxQueue > 0 and joined - served >= maxQueue then return {'queue_full', joined - served} end
if served >= joined then
  -- Nobody waits: restart the clock. The newcomer is admitted at the earliest of now, the start,
  -- and one gap after the time the counter reached the last place.
  local next = math.max(now, startsAt)
  if baseAt > 0 then next = math.max(next, baseAt + (joined - base - expired) * gap + gap) end
  redis.call('HSET', KEYS[1], 'qBase', joined - expired, 'qBaseAt', math.floor(next - gap))
end
if mode == 'queue-randomized-start' then
  redis.call('HSETNX', KEYS[1], 'qSeed', ARGV[2])
  -- The first join at or after the start closes the group of early arrivals (they get random places).
  if startsAt > 0 and now >= startsAt and not m[10] then redis.call('HSET', KEYS[1], 'qEarly', joined) end
end
local number = redis.call('HINCRBY', KEYS[1], 'qJoined', 1)
local value = number .. ':' .. t[1]
redis.call('HSET', KEYS[2], ARGV[1], value)
return reply(value, 0)
