--[[
  confirm: settle the produce of an order in its idempotency record, keeping its TTL.
  ARGV[2] = 'd': durable in Kafka (from p or u), so replays answer at once instead of waiting.
  ARGV[2] = 'u': the produce failed but may have written the order (from p only): the record then
  never goes back to the stock (release.lua only releases p), and the key stays tied to this orderId.

  KEYS[1] idem  fg:{p}:idem:<key>
  ARGV[1] orderId  ARGV[2] new state (d | u)

  Returns 1 when changed, 0 when the record is gone, belongs to another order or is already settled.
]]
local record = redis.call('GET', KEYS[1])
if not record then return 0 end
local state, orderId = string.match(record, '^(%a)|([^|]+)|')
if orderId ~= ARGV[1] then return 0 end
if state == 'd' or (ARGV[2] == 'u' and state ~= 'p') then return 0 end
redis.call('SET', KEYS[1], ARGV[2] .. string.sub(record, 2), 'KEEPTTL')
return 1
