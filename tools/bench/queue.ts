// The waiting room's bench cases against the stack's Redis (no API process): Redis memory per
// waiting user, admission order vs join order, the admission rate over a window, and the wait
// estimate given at join against the real wait. Run: eval "$(npm run -s stack:env)" && npx tsx tools/bench/queue.ts
// (BENCH_QUEUE_SHORT=1: 20,000 users and a 5 s rate window instead of 250,000 and 60 s).
import { createRedis } from '../../core/redis/client.js';
import { saleKeys } from '../../core/redis/keys.js';
import { joinQueue, placeOf, pollQueue, secondsUntil, served, type Place } from '../../core/redis/queue.js';
import { deleteSaleKeys, seedSale } from '../../core/redis/sale.js';

const short = process.env.BENCH_QUEUE_SHORT === '1';
const USERS = Number(process.env.BENCH_QUEUE_USERS ?? (short ? 20_000 : 250_000));
const RATE_WINDOW_S = Number(process.env.BENCH_QUEUE_RATE_S ?? (short ? 5 : 60));
const FAIR_USERS = 20_000;
const url = process.env.REDIS_URL;
if (!url) throw new Error('REDIS_URL is not set: eval "$(npm run -s stack:env)" first');
const redis = createRedis(url);
await redis.connect();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const nonce = Date.now().toString(36);

async function sale(name: string, ratePerSecond: number, mode: 'queue' | 'queue-randomized-start' = 'queue', startsAt?: Date) {
  const productId = `bench-q-${name}-${nonce}`;
  await seedSale(redis, { productId, stock: 1_000_000_000, initialStock: 1_000_000_000, startsAt, admission: { mode, ratePerSecond, tokenTtlSeconds: 120, maxQueue: null } });
  return productId;
}

/** Joins users u0..u(n-1) in that order (one connection, pipelined: Redis runs them in order). */
async function joinAll(productId: string, n: number): Promise<Place[]> {
  const places: Place[] = [];
  for (let i = 0; i < n; i += 5000) {
    const batch = await Promise.all(Array.from({ length: Math.min(5000, n - i) }, (_, j) => joinQueue(redis, productId, `user-${i + j}`)));
    for (const r of batch) {
      if (r.kind !== 'joined') throw new Error(`join refused: ${r.kind}`);
      places.push(r.place);
    }
  }
  return places;
}

const results: Record<string, unknown> = {};

// 1. Memory per waiting user.
{
  const productId = await sale('memory', 1, 'queue', new Date(Date.now() + 3_600_000));
  const t0 = Date.now();
  await joinAll(productId, USERS);
  const joinsPerSecond = Math.round(USERS / ((Date.now() - t0) / 1000));
  const bytes = Number(await redis.call('MEMORY', 'USAGE', saleKeys(productId).queue, 'SAMPLES', '0'));
  results.memory = { users: USERS, queueHashBytes: bytes, bytesPerUser: Math.round((bytes / USERS) * 10) / 10, target: '<= 100', joinsPerSecondPipelined: joinsPerSecond };
  await deleteSaleKeys(redis, productId);
}

// 2. Fairness: join order vs admission order (place = turn), FIFO and randomized start.
{
  const fifo = await sale('fifo', 1000);
  const places = await joinAll(fifo, FAIR_USERS);
  const v = (await pollQueue(redis, fifo))!;
  let inversions = 0;
  for (let i = 1; i < places.length; i++) if (placeOf(places[i]!.number, v)! < placeOf(places[i - 1]!.number, v)!) inversions++;
  const duplicates = places.length - new Set(places.map((p) => p.number)).size;
  const startsAt = new Date(Date.now() + 12_000); // after every early join, even on a loaded machine
  const rnd = await sale('random', 1000, 'queue-randomized-start', startsAt);
  const early = await joinAll(rnd, FAIR_USERS / 2);
  await sleep(Math.max(0, startsAt.getTime() - Date.now() + 100));
  const late = (await Promise.all(Array.from({ length: 1000 }, (_, i) => joinQueue(redis, rnd, `late-${i}`)))).map((r) => (r.kind === 'joined' ? r.place : null)!);
  const rv = (await pollQueue(redis, rnd))!;
  const earlyPlaces = early.map((p) => placeOf(p.number, rv)!);
  const latePlaces = late.map((p) => placeOf(p.number, rv)!);
  let earlyAdjacentInversions = 0;
  for (let i = 1; i < earlyPlaces.length; i++) if (earlyPlaces[i]! < earlyPlaces[i - 1]!) earlyAdjacentInversions++;
  let lateInversions = 0;
  for (let i = 1; i < latePlaces.length; i++) if (latePlaces[i]! < latePlaces[i - 1]!) lateInversions++;
  results.fairness = {
    users: FAIR_USERS,
    queue: { inversions, duplicatePlaces: duplicates },
    randomizedStart: { early: early.length, shuffled: rv.early, earlyAdjacentInversions, lateInversions, everyEarlyBeforeLate: Math.max(...earlyPlaces) < Math.min(...latePlaces) },
  };
  await deleteSaleKeys(redis, fifo);
  await deleteSaleKeys(redis, rnd);
}

// 3. Rate over a window, and the estimate at join vs the real wait (by Redis's clock).
{
  const rate = 50;
  const productId = await sale('rate', rate);
  const places = await joinAll(productId, rate * RATE_WINDOW_S * 2);
  const v0 = (await pollQueue(redis, productId))!;
  const estimates = places.filter((_, i) => i % 50 === 0).map((p) => ({ place: p.number, estimateS: secondsUntil(p.number, v0), at: v0.nowMs }));
  await sleep(RATE_WINDOW_S * 1000);
  const v1 = (await pollQueue(redis, productId))!;
  const measured = (served(v1) - served(v0)) / ((v1.nowMs - v0.nowMs) / 1000);
  // The real wait of a place: the first Redis time at which served() reached it (the formula is exact; no loop).
  const errors = estimates
    .filter((e) => e.estimateS > 1)
    .map((e) => {
      const admittedAt = v1.baseAtMs + ((e.place - v1.base - v1.expired) * 1000) / rate;
      const real = (admittedAt - e.at) / 1000;
      return Math.abs(real - e.estimateS) / real;
    })
    .sort((a, b) => a - b);
  results.rate = { ratePerSecond: rate, windowSeconds: RATE_WINDOW_S, measured: Math.round(measured * 100) / 100, errorPct: Math.round((Math.abs(measured - rate) / rate) * 10000) / 100, target: '<= 5 %' };
  results.estimate = { samples: errors.length, p90ErrorPct: Math.round((errors[Math.floor(errors.length * 0.9)] ?? 0) * 10000) / 100, target: '<= 20 %', note: 'no token expired in this run (compensation would shorten real waits)' };
  await deleteSaleKeys(redis, productId);
}

console.log(JSON.stringify(results, null, 2));
redis.disconnect();
