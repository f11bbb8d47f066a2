// The operator's stock steps against real PostgreSQL, Redis and Kafka: each applies once however
// often it is retried, and the recovery drain barrier follows the real consumer group.
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newOrderId, saleKeys } from '../../core/redis/keys.js';
import { confirmReservation, reserve } from '../../core/redis/reserve.js';
import { LagReader, remainingBeforeBarrier } from '../../operator/adapters/lag-reader.js';
import { Products, StockChangeRefused } from '../../operator/adapters/products.js';
import { RedisSales } from '../../operator/adapters/redis-sales.js';
import { kafka } from '../support/api.js';
import { backends, requireEnv, uniqueName, type Backends } from './support.js';

let b: Backends;
let tx: Redis;
let redis: RedisSales;
let products: Products;

beforeAll(async () => {
  b = await backends('adapters', 2);
  tx = new Redis(requireEnv('REDIS_URL'), { enableAutoPipelining: false });
  redis = new RedisSales(b.redis, tx);
  products = new Products(b.pool);
}, 120_000);

afterAll(async () => {
  tx?.disconnect();
  await b?.close();
});

const settings = { perUserLimit: 2, rateLimitPerSecond: null, startsAt: null, endsAt: null };

describe('PostgreSQL stock steps', () => {
  it('ensure creates once and then only updates the settings', async () => {
    const id = uniqueName('pg');
    await products.ensure({ productId: id, allocation: 10, ...settings });
    await b.pool.query('UPDATE products SET stock = 7 WHERE id = $1', [id]);
    await products.ensure({ productId: id, allocation: 99, ...settings, perUserLimit: 3 });
    expect(await products.read(id)).toMatchObject({ stock: 7, initialStock: 10, perUserLimit: 3 });
  });

  it('a raise keyed on the old allocation applies exactly once, even when retried concurrently', async () => {
    const id = uniqueName('pg');
    await products.ensure({ productId: id, allocation: 10, ...settings });
    await b.pool.query('UPDATE products SET stock = 4 WHERE id = $1', [id]);
    const results = await Promise.all(Array.from({ length: 5 }, () => products.raise(id, 10, 25)));
    expect(results.filter(Boolean).length).toBe(1);
    expect(await products.read(id)).toMatchObject({ stock: 19, initialStock: 25 });
  });

  it('lowering takes unsold units only, once; below what is sold it is refused', async () => {
    const id = uniqueName('pg');
    await products.ensure({ productId: id, allocation: 10, ...settings });
    await b.pool.query('UPDATE products SET stock = 6 WHERE id = $1', [id]);
    await expect(products.lower(id, 10, 3)).rejects.toThrow(new StockChangeRefused(`cannot lower ${id} from 10 to 3: only 6 units are unsold`));
    expect(await products.lower(id, 10, 5)).toBe(true);
    expect(await products.lower(id, 10, 5)).toBe(false);
    expect(await products.read(id)).toMatchObject({ stock: 1, initialStock: 5 });
  });
});

describe('Redis stock steps (through core/redis)', () => {
  /** A seed decided on the epoch Redis holds now (as the operator does), unless told otherwise. */
  const seed = async (id: string, o: Partial<Parameters<RedisSales['seed']>[0]> = {}) =>
    redis.seed({
      productId: id, stock: 10, initialStock: 10, perUserLimit: 1, rateLimitPerSecond: null, startsAtMs: null, endsAtMs: null, gate: 'open', minEpoch: 1,
      expectEpoch: Number((await b.redis.get(saleKeys(id).epoch)) ?? 0), ...o,
    });

  it('seeds at an epoch of at least minEpoch, even after the epoch key was lost', async () => {
    const id = uniqueName('rd');
    expect(await seed(id)).toBe(1);
    await b.redis.del(saleKeys(id).epoch);
    expect(await seed(id, { minEpoch: 5 })).toBe(5);
    expect(await redis.read(id)).toMatchObject({ stock: 10, epoch: 5, gate: 'open', initialStock: 10, perUserLimit: 1 });
  });

  it('a late seed decided on an older epoch (a deposed leader) is refused and changes nothing', async () => {
    const id = uniqueName('rd');
    expect(await seed(id)).toBe(1);
    // The new leader reseeds (epoch 1 -> 2, 7 units); the old one's seed, decided at epoch 1, comes late.
    expect(await seed(id, { stock: 7, expectEpoch: 1 })).toBe(2);
    await expect(seed(id, { stock: 10, expectEpoch: 1, minEpoch: 2 })).rejects.toThrow(/refused: computed for epoch 1, Redis is at epoch 2/);
    expect(await redis.read(id)).toMatchObject({ stock: 7, epoch: 2 });
  });

  it('counts the reservations still on their way to Kafka, not the durable nor the abandoned ones', async () => {
    const id = uniqueName('rd');
    await seed(id);
    const reserveOne = async (key: string) => {
      const orderId = newOrderId(id);
      const r = await reserve(b.redis, { orderId, productId: id, userId: key, idempotencyKey: key, quantity: 1, idempotencyTtlSec: 600, orderStatusTtlSec: 600, pendingStaleMs: 60_000 });
      expect(r.kind).toBe('ok');
      return orderId;
    };
    await reserveOne('k1');
    const durable = await reserveOne('k2');
    await confirmReservation(b.redis, id, 'k2', durable);
    await reserveOne('k3');
    expect(await redis.reservationsInFlight(id, 60_000)).toBe(2);
    await new Promise((r) => setTimeout(r, 30));
    expect(await redis.reservationsInFlight(id, 20)).toBe(0);
  });

  it('a raise keyed on the allocation Redis holds applies once, and commutes with sales', async () => {
    const id = uniqueName('rd');
    await seed(id);
    await b.redis.decrby(saleKeys(id).stock, 4);
    const results = await Promise.all(Array.from({ length: 5 }, () => redis.raiseStock(id, 10, 15)));
    expect(results.filter(Boolean).length).toBe(1);
    expect(await redis.read(id)).toMatchObject({ stock: 11, initialStock: 15 });
    expect(await redis.raiseStock(id, 10, 15)).toBe(false);
  });

  it('a raise never creates the stock of a sale that lost its keys', async () => {
    const id = uniqueName('rd');
    await seed(id);
    await b.redis.del(saleKeys(id).stock);
    expect(await redis.raiseStock(id, 10, 15)).toBe(false);
    expect(await b.redis.exists(saleKeys(id).stock)).toBe(0);
  });

  it('configure changes limits and window, never the stock', async () => {
    const id = uniqueName('rd');
    await seed(id);
    await redis.configure(id, { perUserLimit: 3, rateLimitPerSecond: 100, startsAtMs: 1_900_000_000_000, endsAtMs: null });
    expect(await redis.read(id)).toMatchObject({ stock: 10, perUserLimit: 3, rateLimitPerSecond: 100, startsAtMs: 1_900_000_000_000, endsAtMs: null });
  });

  it('missingStock finds the sales that lost their stock key in one round trip', async () => {
    const [x, y] = [uniqueName('rd'), uniqueName('rd')];
    await seed(x);
    expect([...(await redis.missingStock([x, y]))]).toEqual([y]);
  });

  it('node() is the run_id of the server holding the sale, fenced only when seeded under another replication id', async () => {
    const [info, id] = [await b.redis.info('server'), uniqueName('rd')];
    expect(await redis.node(id)).toEqual({ runId: /^run_id:([0-9a-f]{40})/m.exec(info)![1], fenced: false });
    await seed(id);
    expect((await redis.node(id)).fenced).toBe(false);
    await b.redis.hset(saleKeys(id).meta, 'seedTerm', 'f'.repeat(40)); // as if seeded on another node
    expect((await redis.node(id)).fenced).toBe(true);
  });
});

describe('the recovery drain barrier on the real consumer group', () => {
  it('counts the messages below the barrier until the group commits past them', async () => {
    const admin = kafka().admin();
    const reader = new LagReader(admin, b.groupId, b.topic);
    const producer = kafka().producer();
    await producer.connect();
    await producer.send({ topic: b.topic, messages: Array.from({ length: 6 }, (_, i) => ({ key: `k${i}`, value: 'x', partition: i % 2 })) });
    const barrier = (await reader.read()).high;
    await producer.send({ topic: b.topic, messages: [{ value: 'after the barrier', partition: 0 }] });
    const before = await reader.read();
    expect(before.lag.total).toBe(7);
    expect(remainingBeforeBarrier(before, barrier)).toBe(6);
    await admin.setOffsets({ groupId: b.groupId, topic: b.topic, partitions: [{ partition: 0, offset: '3' }, { partition: 1, offset: '3' }] });
    const after = await reader.read();
    expect(after.lag.total).toBe(1);
    expect(remainingBeforeBarrier(after, barrier)).toBe(0);
    await producer.disconnect();
    await reader.close();
  });
});
