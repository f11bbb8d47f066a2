// Redis's per-user counters after the events that break them: a release fenced by a reseed gives
// the user's units back, and a reseed rebuilds the counters from PostgreSQL's confirmed orders
// (after a FLUSHALL every user would otherwise start again at 0).
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
});
