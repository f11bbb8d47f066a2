--[[
  reserve: the whole admission decision for one order, in one round trip; a call decides a batch
  of orders of one sale (the API sends what reached it in one turn of its event loop), each exactly
  as if it were its own call, in the order given (one script: nothing else runs in between).
  Order of checks: idempotency, gate, sale window, stock, admission token (queued sales), admission
  rate, per-user limit, then reserve; the token is consumed in the same step as the reservation.
  Invariant: an idempotency key names one order (one orderId) for one user and quantity, whatever
  happens to its produce; this script never gives a key a second orderId.

  The call also confirms orders of the sale that Kafka acknowledged since the last call (c of them):
  their records go from p or u to d (durable: replays answer at once), TTL kept, as confirm.lua does
  with 'd'; a record that is gone, another order's or already d is left alone. One round trip for
  both instead of one more call per produce batch.

  Call: KEYS = stock, meta, epoch, rate, tokens (the sale's), then the c idem keys to confirm, then
  idem, user, order for each order; ARGV = productId, idempotency record TTL, order record TTL,
  pending-stale ms, c, then the c orderIds to confirm, then orderId, userId, quantity, token flag
  for each order. Returns {confirmed, {one reply (below) per order, in order}}.
  Below, for one order, KEYS and ARGV are as reserveOne sees them:

  KEYS[1] stock   fg:{p}:stock          integer units left (missing = not seeded)
  KEYS[2] meta    fg:{p}:meta           hash: state, startsAt, endsAt, rateLimit, perUserLimit
  KEYS[3] epoch   fg:{p}:epoch          integer, bumped by each seed
  KEYS[4] idem    fg:{p}:idem:<key>     idempotency record (see below)
  KEYS[5] user    fg:{p}:user:<userId>  units this user reserved (only kept when perUserLimit > 0)
  KEYS[6] rate    fg:{p}:rate           hash: s = unix second, n = admissions in that second
  KEYS[7] order   fg:order:{<first 5 digits of orderId>}:<orderId>  (same slot: see keys.ts newOrderId), accepted-order record, "<productId>|<userId>|<qty>|<acceptedAtMs>"
  KEYS[8] tokens  fg:{p}:qtok           admission tokens of a queued sale (see queue-admit.lua)
  ARGV[1] orderId  ARGV[2] userId  ARGV[3] quantity  ARGV[4] productId
  ARGV[5] idempotency record TTL (s)  ARGV[6] order record TTL (s)
  ARGV[7] ms after which a still-pending record is abandoned (its API pod died before producing)
  ARGV[8] '1' when the request carries an admission token whose signature, sale and user the API checked, else ''

  Idempotency record: "<p|u|d>|<orderId>|<remaining>|<qty>|<epoch>|<userCounted 0|1>|<acceptedAtMs>|<userId>"
  (p = reserved, produce in progress; u = produce outcome unknown (maybe in Kafka); d = durable in
  Kafka, answer final). Records written before the userId field existed end at acceptedAtMs.

  Returns one of:
    {'ok', remaining, epoch, acceptedAtMs}  reserved for ARGV[1] (also when ioredis re-sent this very call)
    {'replay', record}   the key's order is done, or pending and fresh: answer or wait for it
    {'adopt', record}    the key's order is in limbo (u, or p past ARGV[7]) in this epoch: produce it again
    {'reissue', record}  same, but a reseed came since: reserve again under the record's orderId
    {'key_reused'}       the key belongs to another user or quantity: nothing changed
    {'not_seeded'} {'recovering'} {'paused'} {'not_started', msUntilStart} {'ended'}
    {'sold_out', stockLeft} {'rate_limited', msUntilNextSecond} {'limit_reached'}
    {'fenced'}   this node is not the one the sale was seeded on (meta seedTerm, see seed.lua): nothing changed
    {'token_required'} {'token_unknown'} {'token_used'} {'token_expired'}   queued sale, nothing changed
  A token is good for the units its holder may buy: perUserLimit in all across orders (each unit
  counted in KEYS[5] in the same step as its reservation), or one order when there is no per-user limit.
]]
-- One clock for the whole call: its orders are decided at the same instant.
local t = redis.call('TIME')
local nowMs = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

local replInfo = nil
local function replicationInfo()
  if not replInfo then replInfo = redis.call('INFO', 'replication') end
  return replInfo
end

-- The sale's meta fields, epoch and stock, read once per call (at the first order that needs them):
-- no order of the call writes a meta field read here (only qSoldOut) nor the epoch, and the stock
-- only by the DECRBY below, whose answer is kept. One read instead of one per order, as each
-- order's own call would have found the same values.
local sale = nil
local function saleState(KEYS)
  if not sale then
    sale = {
      meta = redis.call('HMGET', KEYS[2], 'state', 'startsAt', 'endsAt', 'rateLimit', 'perUserLimit', 'admMode', 'seedTerm'),
      epoch = redis.call('GET', KEYS[3]) or '0',
      stock = redis.call('GET', KEYS[1]),
    }
  end
  return sale
end

local function reserveOne(KEYS, ARGV)
  local record = redis.call('GET', KEYS[4])
  if record then
    local state, orderId, remaining, qty, epoch, acceptedAt, rest =
      string.match(record, '^(%a)|([^|]+)|(%-?%d+)|(%d+)|(%d+)|%d|(%d+)(.*)$')
    local userId = string.match(rest, '^|(.*)$')
    if (userId and userId ~= ARGV[2]) or tonumber(qty) ~= tonumber(ARGV[3]) then return {'key_reused'} end
    local sameEpoch = epoch == saleState(KEYS).epoch
    if orderId == ARGV[1] then
      -- This very attempt ran already (ioredis re-sends a call left unanswered by a dropped
      -- connection): answer what it reserved. From an older epoch, fall through and reserve again.
      if sameEpoch then return {'ok', tonumber(remaining), tonumber(epoch), tonumber(acceptedAt)} end
    elseif state == 'd' or (state == 'p' and nowMs - tonumber(acceptedAt) < tonumber(ARGV[7])) then
      return {'replay', record}
    elseif sameEpoch then
      return {'adopt', record}
    else
      return {'reissue', record}
    end
  end

  local reissue = record ~= false and record ~= nil -- reserving again under an orderId that consumed its token already
  local s = saleState(KEYS)
  local meta = s.meta
  if meta[1] and meta[1] ~= 'open' then return {meta[1]} end
  local stock = s.stock
  if not stock or not meta[1] then return {'not_seeded'} end

  local startsAt = tonumber(meta[2]) or 0
  if startsAt > 0 and nowMs < startsAt then return {'not_started', startsAt - nowMs} end
  local endsAt = tonumber(meta[3]) or 0
  if endsAt > 0 and nowMs >= endsAt then return {'ended'} end

  stock = tonumber(stock)
  local qty = tonumber(ARGV[3])
  if stock < qty then
    if stock <= 0 then redis.call('HSET', KEYS[2], 'qSoldOut', '1') end
    return {'sold_out', stock}
  end

  local token = nil -- the expiry of a live token used for the first time (marked used with the reservation)
  if meta[6] == 'queue' or meta[6] == 'queue-randomized-start' then
    if not reissue then
      if ARGV[8] ~= '1' then return {'token_required'} end
      local score = redis.call('ZSCORE', KEYS[8], ARGV[2])
      if not score then return {'token_unknown'} end
      score = tonumber(score)
      if score < 0 then
        -- Used before: good for what its holder may still buy (perUserLimit units in all, counted in
        -- KEYS[5] with each reservation; one order when the sale has no per-user limit), until expiry.
        local limit = tonumber(meta[5]) or 0
        if limit <= 0 or tonumber(redis.call('GET', KEYS[5]) or '0') >= limit then return {'token_used'} end
        if -score <= nowMs then return {'token_expired'} end
      elseif score == 1 or score <= nowMs then
        return {'token_expired'}
      else
        token = score
      end
    end
  end

  -- Fence, before the first write: the figures here are only as good as the node they were seeded
  -- on. Another node with this sale (a replica promoted without the last writes, a node demoted,
  -- resynced and promoted again, a restart from an old snapshot) sells nothing until the operator
  -- reseeds it from PostgreSQL. Checked only here, on the way to a reservation (about 2 us of Redis
  -- CPU, once per call), so refusals and replays cost nothing more. A sale seeded before seedTerm existed is not fenced.
  if meta[7] and not string.find(replicationInfo(), 'master_replid:' .. meta[7], 1, true) then
    return {'fenced'}
  end

  local rateLimit = tonumber(meta[4]) or 0
  if rateLimit > 0 then
    local r = redis.call('HMGET', KEYS[6], 's', 'n')
    local n = 1
    if r[1] == t[1] then n = tonumber(r[2]) + 1 end
    if n > rateLimit then return {'rate_limited', 1000 - math.floor(tonumber(t[2]) / 1000)} end
    redis.call('HSET', KEYS[6], 's', t[1], 'n', n)
  end

  local userCounted = 0
  local perUserLimit = tonumber(meta[5]) or 0
  if perUserLimit > 0 then
    local bought = tonumber(redis.call('GET', KEYS[5]) or '0')
    if bought + qty > perUserLimit then return {'limit_reached'} end
    redis.call('INCRBY', KEYS[5], qty)
    userCounted = 1
  end

  local remaining = redis.call('DECRBY', KEYS[1], qty)
  s.stock = remaining
  -- Used: marked (its expiry negated, so a release can give it back, and the sweep never counts it
  -- as an unused slot) with the first reservation; later ones are counted by the per-user counter.
  if token then redis.call('ZADD', KEYS[8], 'XX', -token, ARGV[2]) end
  -- Everyone still waiting is told at once: polls read this flag.
  if remaining <= 0 then redis.call('HSET', KEYS[2], 'qSoldOut', '1') end
  local epoch = s.epoch
  redis.call('SET', KEYS[4],
    'p|' .. ARGV[1] .. '|' .. remaining .. '|' .. qty .. '|' .. epoch .. '|' .. userCounted .. '|' .. nowMs .. '|' .. ARGV[2],
    'EX', ARGV[5])
  redis.call('SET', KEYS[7], ARGV[4] .. '|' .. ARGV[2] .. '|' .. qty .. '|' .. nowMs, 'EX', ARGV[6])
  return {'ok', remaining, tonumber(epoch), nowMs}
end

local c = tonumber(ARGV[5])
local confirmed = 0
for j = 1, c do
  local record = redis.call('GET', KEYS[5 + j])
  if record then
    local state, orderId = string.match(record, '^(%a)|([^|]+)|')
    if orderId == ARGV[5 + j] and state ~= 'd' then
      redis.call('SET', KEYS[5 + j], 'd' .. string.sub(record, 2), 'KEEPTTL')
      confirmed = confirmed + 1
    end
  end
end

local replies = {}
for i = 1, (#KEYS - 5 - c) / 3 do
  local k, a = 5 + c + (i - 1) * 3, 5 + c + (i - 1) * 4
  replies[i] = reserveOne(
    {KEYS[1], KEYS[2], KEYS[3], KEYS[k + 1], KEYS[k + 2], KEYS[4], KEYS[k + 3], KEYS[5]},
    {ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[a + 4]})
end
return {confirmed, replies}
