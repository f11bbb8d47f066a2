--[[
  confirm: the order is durable in Kafka; turn its idempotency record from pending (p) to done (d),
  keeping its TTL, so replays answer at once instead of waiting.

  KEYS[1] idem  fg:{p}:idem:<key>
  ARGV[1] orderId

  Returns 1 when confirmed, 0 when the record is gone or belongs to another order.
]]
local record = redis.call('GET', KEYS[1])
if not record then return 0 end
local orderId = string.match(record, '^p|([^|]+)|')
if orderId ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], 'd' .. string.sub(record, 2), 'KEEPTTL')
return 1
