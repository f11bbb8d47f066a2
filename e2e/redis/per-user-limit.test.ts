// Redis's per-user counters after the events that break them: a release fenced by a reseed gives
// the user's units back, and a reseed rebuilds the counters from PostgreSQL's confirmed orders
// (after a FLUSHALL every user would otherwise start again at 0), also when Redis loses its data
// between the rebuild and the seed that opens the gate (long chaos run 536877017, +1566 s).
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedis, type FluxRedis } from '../../core/redis/client.js';
import { saleKeys } from '../../core/redis/keys.js';
import { releaseReservation, reserve } from '../../core/redis/reserve.js';
import { seedSale } from '../../core/redis/sale.js';

let redis: FluxRedis;
const url = () => {
  const v = process.env.REDIS_URL;
  if (!v) throw new Error('REDIS_URL is not set: run the e2e tests through the stack');
  return v;
};

beforeAll(() => {
  redis = createRedis(url());
});
afterAll(() => redis?.disconnect());

const sale = (productId: string, userUnits?: Map<string, number>) =>
  seedSale(redis, { productId, stock: 100, initialStock: 100, perUserLimit: 2, userUnits });
const order = (productId: string, userId: string, quantity = 1) => ({
  orderId: randomUUID(),
  productId,
  userId,
  idempotencyKey: randomUUID(),
  quantity,
  idempotencyTtlSec: 600,
  orderStatusTtlSec: 600,
  pendingStaleMs: 60_000,
});

describe('per-user counters in Redis', () => {
  it('a release fenced by a reseed gives the user back the units it never bought', async () => {
    const p = `limit-fenced-${randomUUID().slice(0, 8)}`;
    await sale(p);
    const o = order(p, 'ann', 2);
    expect((await reserve(redis, o)).kind).toBe('ok');
    await sale(p); // a reseed (new epoch) while the produce is failing
    expect(await releaseReservation(redis, { productId: p, idempotencyKey: o.idempotencyKey, userId: 'ann', orderId: o.orderId })).toBe('fenced');
    expect(await redis.get(saleKeys(p).user('ann'))).toBe('0');
    expect((await reserve(redis, order(p, 'ann', 2))).kind).toBe('ok');
  });

  it('a reseed rebuilds the counters from PostgreSQL after Redis lost them', async () => {
    const p = `limit-rebuilt-${randomUUID().slice(0, 8)}`;
    await sale(p);
    expect((await reserve(redis, order(p, 'ann', 2))).kind).toBe('ok'); // confirmed later in PostgreSQL
    await redis.del(saleKeys(p).user('ann'), saleKeys(p).stock); // what a FLUSHALL does to this sale
    await sale(p, new Map([['ann', 2], ['bob', 1]])); // confirmedUnitsByUser(PostgreSQL)
    expect(await reserve(redis, order(p, 'ann'))).toMatchObject({ kind: 'limit_reached' });
    expect((await reserve(redis, order(p, 'bob'))).kind).toBe('ok');
    expect(await reserve(redis, order(p, 'bob'))).toMatchObject({ kind: 'limit_reached' });
  });

  it('a FLUSHALL between the rebuild of the counters and key records and the seed cannot open the sale without them', async () => {
    const p = `limit-flushed-${randomUUID().slice(0, 8)}`;
    // The fault lands exactly where the chaos run's did: after the counters were written, before
    // the seed script runs (a FLUSHALL, an empty restart or a failover to a replica that lags).
    const flushBeforeSeed = new Proxy(redis, {
      get(target, prop, receiver) {
        if (prop !== 'fgSeed') return Reflect.get(target, prop, receiver) as unknown;
        return async (...args: unknown[]) => {
          const keys = await target.keys(`fg:{${p}}:*`);
          if (keys.length > 0) await target.del(...keys);
          return (target.fgSeed as (...a: unknown[]) => Promise<number>)(...args);
        };
      },
    });
    // PostgreSQL also holds bob's order under key k-bob: its record must survive the same window.
    const bobs = { idempotencyKey: `k-bob-${p}`, orderId: randomUUID(), userId: 'bob', quantity: 1, acceptedAtMs: Date.now() };
    await seedSale(flushBeforeSeed, { productId: p, stock: 100, initialStock: 100, perUserLimit: 2, userUnits: new Map([['ann', 2]]), keyHolders: [bobs] });
    // ann holds 2 confirmed units in PostgreSQL: a reservation here is a 200 the worker rejects.
    const answers = await Promise.all([reserve(redis, order(p, 'ann')), reserve(redis, order(p, 'ann'))]);
    expect(answers.filter((a) => a.kind === 'ok').length).toBe(0);
    // bob retrying his stored key gets his order back, never a second orderId (stored rejected duplicate).
    const retry = await reserve(redis, { ...order(p, 'bob'), idempotencyKey: bobs.idempotencyKey });
    expect(retry.kind).not.toBe('ok');
    expect(retry).toMatchObject({ record: { orderId: bobs.orderId } });
  });
});
