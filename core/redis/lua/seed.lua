--[[
  seed: load one sale into Redis from PostgreSQL's figures and open its gate.
  Replaces the stock and the whole config, bumps the epoch (fencing compensations of reservations
  made before), keeps idempotency records, per-user counters and the queue (its q* counters in the
  meta hash, its places and tokens): a reseed never reorders or empties the line.

  KEYS[1] stock  fg:{p}:stock
  KEYS[2] meta   fg:{p}:meta
  KEYS[3] epoch  fg:{p}:epoch
  ARGV[1] stock  ARGV[2] startsAt ms (0 = none)  ARGV[3] endsAt ms (0 = none)
  ARGV[4] rateLimit per second (0 = none)  ARGV[5] perUserLimit (0 = none)  ARGV[6] initialStock
  ARGV[7] gate state after seeding (open | paused)
  ARGV[8] the epoch the seed was computed for ('' = unchecked): if the epoch key moved since
          (another operator seeded meanwhile), the seed is refused and nothing changes
  ARGV[9] lowest new epoch (an epoch key lost with Redis must not restart below what API pods hold)
  ARGV[10] admission mode (direct | queue | queue-randomized-start)  ARGV[11] admissions per second (0 = none)
  ARGV[12] admission token TTL (s)  ARGV[13] most places waiting (0 = no cap)
  ARGV[14] the per-user counter key prefix fg:{p}:user: (same slot)  ARGV[15] n, the number of
          (userId, units) pairs that follow in ARGV[16 .. 15+2n]: each counter is raised to the
          units PostgreSQL holds (never lowered).
  then: the idempotency key prefix fg:{p}:idem:, the TTL (s) of a rebuilt record, and (key, record)
          pairs: the record of each key PostgreSQL holds confirmed, written where Redis has none
          (a live record, whatever its state, is the API's and stays).
  Counters and records are written in this script, not before it: data lost between a separate
  rebuild and the seed (FLUSHALL, empty restart) would open the gate on counters at 0 and on keys
  without their order (long chaos run 536877017, +1566 s and +669 s).
  The meta hash records seedTerm, this node's replication id (master_replid): reserve.lua refuses
  on any node whose id differs (a promoted replica, a restart, even from a snapshot), until the
  operator seeds that node. Replicas copy the field, and a promotion gives them a new id.

  Returns the new epoch, or {'stale', currentEpoch} when refused.
]]
local current = tonumber(redis.call('GET', KEYS[3]) or '0')
if ARGV[8] ~= '' and ARGV[8] ~= nil and current ~= tonumber(ARGV[8]) then return {'stale', current} end
local t = redis.call('TIME')
local prefix = ARGV[14] or ''
local npairs = tonumber(ARGV[15] or '0') or 0
for i = 16, 15 + 2 * npairs, 2 do
  local k = prefix .. ARGV[i]
  if tonumber(redis.call('GET', k) or '0') < tonumber(ARGV[i + 1]) then redis.call('SET', k, ARGV[i + 1]) end
end
local at = 16 + 2 * npairs
if ARGV[at] then
  local idem, ttl = ARGV[at], ARGV[at + 1]
  for i = at + 2, #ARGV - 1, 2 do redis.call('SET', idem .. ARGV[i], ARGV[i + 1], 'EX', ttl, 'NX') end
end
redis.call('SET', KEYS[1], ARGV[1])
local Q = {'qJoined', 'qBase', 'qBaseAt', 'qExpired', 'qEarly', 'qSeed', 'qSettled'}
local q = redis.call('HMGET', KEYS[2], unpack(Q))
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[2],
  'state', ARGV[7], 'startsAt', ARGV[2], 'endsAt', ARGV[3], 'rateLimit', ARGV[4],
  'perUserLimit', ARGV[5], 'initialStock', ARGV[6], 'seededAt', tonumber(t[1]) * 1000,
  'admMode', ARGV[10] or 'direct', 'admRate', ARGV[11] or '0', 'admTtl', ARGV[12] or '0', 'admMax', ARGV[13] or '0',
  'seedTerm', string.match(redis.call('INFO', 'replication'), 'master_replid:(%x+)'))
for i, f in ipairs(Q) do if q[i] then redis.call('HSET', KEYS[2], f, q[i]) end end
if tonumber(ARGV[1]) <= 0 then redis.call('HSET', KEYS[2], 'qSoldOut', '1') end
local epoch = math.max(current + 1, tonumber(ARGV[9] or '1') or 1)
redis.call('SET', KEYS[3], epoch)
return epoch
