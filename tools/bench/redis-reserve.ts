// The per-Redis-core figure of one sale: redis-benchmark (Debian redis-tools) running EVALSHA of
// reserve.lua against the stack's Redis, every call a fresh order (idempotency key, user and order id
// from redis-benchmark's __rand_int__, drawn from 10^9: a repeat, a replay, is rare), on a sale seeded with more stock than the run takes. One sale
// is one hot key on one Redis core, so 10^6 / (Redis CPU µs per call) is that sale's ceiling in
// reservations per second (README "Capacity model"). Redis CPU is read from /proc: at any machine load
// it is the work of the script, while ops/s is what the shared machine let through.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { loadScript, type FluxRedis } from '../../core/redis/client.js';
import { orderStatusKey, saleKeys } from '../../core/redis/keys.js';
import { deleteSaleKeys, seedSale } from '../../core/redis/sale.js';
import { cpuSeconds } from './cpu.js';

const run = promisify(execFile);
/** Order-record and idempotency TTLs of the run's calls: long enough for the run, gone soon after. */
const TTL_SEC = 120;

export interface ReserveCaseResult {
  name: string;
  /** Orders decided (calls × ordersPerCall); the per-call figures below are per order. */
  calls: number;
  clients: number;
  pipeline: number;
  /** Orders per reserve.lua call (the API sends one call per sale per event-loop turn). */
  ordersPerCall: number;
  /** Orders decided per second. */
  opsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** Redis server CPU per call (main thread and I/O threads), microseconds. */
  redisCpuUsPerCall?: number;
  /** Redis's own time inside the script per call (INFO commandstats, EVALSHA): the execution alone, without I/O and parsing. */
  scriptUsPerCall: number;
  /** 10^6 / redisCpuUsPerCall: reservations per second of one sale on one Redis core. */
  perCoreCallsPerSecond?: number;
  /** Calls that reserved a unit (from the stock afterwards); a few fewer than calls when __rand_int__ repeated a key. */
  reserved: number;
}

/** redis-benchmark's connection arguments for a redis:// URL (host, port, user, password, db). */
export function benchmarkArgs(redisUrl: string): string[] {
  const u = new URL(redisUrl);
  if (u.protocol !== 'redis:') throw new Error(`the reserve case needs a plain redis:// URL (redis-benchmark), got ${u.protocol}`);
  const args = ['-h', u.hostname, '-p', u.port || '6379'];
  if (u.username) args.push('--user', decodeURIComponent(u.username));
  if (u.password) args.push('-a', decodeURIComponent(u.password));
  const db = u.pathname.replace(/^\//, '');
  if (db) args.push('--dbnum', db);
  return args;
}

export async function measureReserve(
  redis: FluxRedis,
  redisUrl: string,
  redisPid: number | undefined,
  productId: string,
  o: { calls: number; clients: number; pipeline: number; ordersPerCall?: number },
): Promise<ReserveCaseResult> {
  const perCall = o.ordersPerCall ?? 1;
  const stock = o.calls * perCall * 2;
  await seedSale(redis, { productId, stock, initialStock: stock });
  const sha = (await redis.script('LOAD', loadScript('reserve.lua'))) as string;
  const k = saleKeys(productId);
  // The keys and arguments of core/redis/reserve.ts reserveMany (no confirmation), with fresh orders per call
  // (redis-benchmark draws each __rand_int__ on its own).
  const orderId = '00000000-0000-4000-8000-__rand_int__';
  const orderKeys: string[] = [];
  const orderArgs: string[] = [];
  for (let i = 0; i < perCall; i++) {
    orderKeys.push(k.idem('rb-__rand_int__'), k.user('u-__rand_int__'), orderStatusKey(orderId));
    orderArgs.push(orderId, 'u-__rand_int__', '1', '');
  }
  const command = [
    'EVALSHA', sha, String(5 + 3 * perCall),
    k.stock, k.meta, k.epoch, k.rate, k.tokens, ...orderKeys,
    productId, String(TTL_SEC), String(TTL_SEC), '30000', '0', ...orderArgs,
  ];
  const args = [...benchmarkArgs(redisUrl), '-n', String(o.calls), '-c', String(o.clients), '-P', String(o.pipeline), '-r', '1000000000', '--csv', ...command];
  const before = cpuSeconds(redisPid);
  const statsBefore = await evalshaStats(redis);
  const { stdout } = await run('redis-benchmark', args, { maxBuffer: 1 << 20 });
  const after = cpuSeconds(redisPid);
  const statsAfter = await evalshaStats(redis);
  const row = stdout.trim().split('\n').find((l) => l.startsWith('"EVALSHA'));
  if (!row) throw new Error(`redis-benchmark printed no EVALSHA row:\n${stdout}`);
  // "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
  const f = row.split('","').map((x) => x.replace(/"/g, ''));
  const reserved = stock - Number(await redis.get(k.stock));
  const orders = o.calls * perCall;
  const cpuUs = before !== undefined && after !== undefined ? Math.round(((after - before) * 1e6 * 10) / orders) / 10 : undefined;
  await deleteSaleKeys(redis, productId);
  // The case's records (up to 3 keys per order, TTL TTL_SEC) would otherwise weigh on the next case
  // (a bigger keyspace, then their expiry during it): measured, 30.5 µs per order for the case run
  // third against 17–19 µs run on a clean keyspace.
  await unlinkMatching(redis, `fg:{${productId}}:*`);
  await unlinkMatching(redis, orderStatusKey(orderId).replace(orderId, '*'));
  return {
    name: `reserve.lua, ${o.clients} clients, pipeline ${o.pipeline}, ${perCall} order${perCall > 1 ? 's' : ''} per call`,
    calls: orders,
    clients: o.clients,
    pipeline: o.pipeline,
    ordersPerCall: perCall,
    opsPerSecond: Math.round(Number(f[1]) * perCall),
    p50Ms: Number(f[4]),
    p99Ms: Number(f[6]),
    redisCpuUsPerCall: cpuUs,
    scriptUsPerCall: Math.round(((statsAfter.usec - statsBefore.usec) / Math.max(1, (statsAfter.calls - statsBefore.calls) * perCall)) * 10) / 10,
    perCoreCallsPerSecond: cpuUs ? Math.round(1e6 / cpuUs) : undefined,
    reserved,
  };
}

/** UNLINKs every key matching the pattern (one Redis: the bench's stack). */
async function unlinkMatching(redis: FluxRedis, pattern: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = (await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 5_000)) as [string, string[]];
    if (keys.length > 0) await redis.unlink(...keys);
    cursor = next;
  } while (cursor !== '0');
}

/** EVALSHA calls and microseconds so far, from INFO commandstats. */
async function evalshaStats(redis: FluxRedis): Promise<{ calls: number; usec: number }> {
  const info = (await redis.info('commandstats')) as string;
  const m = /^cmdstat_evalsha:calls=(\d+),usec=(\d+)/m.exec(info);
  return { calls: Number(m?.[1] ?? 0), usec: Number(m?.[2] ?? 0) };
}
