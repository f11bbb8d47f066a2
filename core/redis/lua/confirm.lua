--[[
  confirm: settle the produce of one or more orders of one sale in their idempotency records,
  keeping each record's TTL. One call per Kafka produce batch and sale (the keys share the sale's
  slot), not one per order. The API's confirmations ('d') ride on its next reserve.lua call for the
  sale instead (the same rule, in that script); this is the standalone form ('u' above all).
  ARGV[1] = 'd': durable in Kafka (from p or u), so replays answer at once instead of waiting.
  ARGV[1] = 'u': the produce failed but may have written the order (from p only): the record then
  never goes back to the stock (release.lua only releases p), and the key stays tied to this orderId.

  KEYS[i]   idem  fg:{p}:idem:<key>
  ARGV[1] new state (d | u)   ARGV[i + 1] the orderId KEYS[i] must hold

  Returns how many records changed; a record that is gone, belongs to another order or is already
  settled is left alone.
]]
local changed = 0
for i = 1, #KEYS do
  local record = redis.call('GET', KEYS[i])
  if record then
    local state, orderId = string.match(record, '^(%a)|([^|]+)|')
    if orderId == ARGV[i + 1] and state ~= 'd' and (ARGV[1] ~= 'u' or state == 'p') then
      redis.call('SET', KEYS[i], ARGV[1] .. string.sub(record, 2), 'KEEPTTL')
      changed = changed + 1
    end
  end
end
return changed
