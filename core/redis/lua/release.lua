--[[
  release: undo a reservation whose Kafka produce failed, so the client's retry can succeed.
  Fenced twice: only the reservation named by ARGV[1] is touched (the idempotency record must still
  carry that orderId), and stock goes back only if the sale's epoch is the one recorded at
  reservation (a reseed since then already counted from PostgreSQL, which never saw this order).

  KEYS[1] stock  fg:{p}:stock
  KEYS[2] epoch  fg:{p}:epoch
  KEYS[3] idem   fg:{p}:idem:<key>
  KEYS[4] user   fg:{p}:user:<userId>
  KEYS[5] order  fg:order:{<first 5 digits of orderId>}:<orderId> (same slot as the sale)
  KEYS[6] meta   fg:{p}:meta    (the queue's sold-out flag goes down with a unit given back)
  KEYS[7] tokens fg:{p}:qtok    (a queued buyer's admission token, used by this order, is usable again)
  ARGV[1] orderId  ARGV[2] userId

  Returns {'released'} | {'fenced'} (epoch changed: record cleared, user count given back, stock left alone) | {'not_ours'}
]]
local record = redis.call('GET', KEYS[3])
if not record then return {'not_ours'} end
local state, orderId, qty, epoch, userCounted =
  string.match(record, '^(%a)|([^|]+)|%-?%d+|(%d+)|(%d+)|(%d)|%d+')
-- Only p: a record marked u (produce outcome unknown) may be in Kafka and is never released.
if orderId ~= ARGV[1] or state ~= 'p' then return {'not_ours'} end

redis.call('DEL', KEYS[3], KEYS[5])
-- The user's count is given back on both paths: the order exists nowhere (never produced), and a
-- reseed keeps (never lowers) the counters it finds, so this reservation is still counted in it.
local left = 0
if userCounted == '1' then
  local n = tonumber(redis.call('GET', KEYS[4]) or '0')
  left = math.max(0, n - tonumber(qty))
  if n > 0 then redis.call('SET', KEYS[4], left) end
end
-- The admission token is unused again only if no unit bought with it is left.
local token = tonumber(redis.call('ZSCORE', KEYS[7], ARGV[2]) or '0')
if token < 0 and left == 0 then redis.call('ZADD', KEYS[7], 'XX', -token, ARGV[2]) end
if (redis.call('GET', KEYS[2]) or '0') ~= epoch then return {'fenced'} end
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('INCRBY', KEYS[1], qty)
  redis.call('HDEL', KEYS[6], 'qSoldOut')
end
return {'released'}
