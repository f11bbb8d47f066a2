// Two API processes behind one Redis: duplicates of a key that another process is still placing
// wait on the Redis record (not just on the in-process promise) and replay the same order.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startComponent, type RunningProcess } from '../support/processes.js';
import { countBy, initSale, order, redisStock, startApi, topicEndOffset, uniqueName, type ApiHarness } from '../support/api.js';

let a: ApiHarness;
let b: RunningProcess;
let baseB: string;

beforeAll(async () => {
  a = await startApi('two-pods');
  b = await startComponent('api', a.env, { readyTimeoutMs: 90_000 });
  baseB = `http://127.0.0.1:${b.port}`;
});

afterAll(async () => {
  await b?.stop('SIGKILL');
  await a?.close();
});

describe('two API processes', () => {
  it('50 concurrent requests with one key split over both: one order, 49 replays', async () => {
    const productId = uniqueName('pods');
    await initSale(a.base, { productId, quantity: 10 });
    const offsetBefore = await topicEndOffset(a.topic);
    const key = randomUUID();

    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => order(i % 2 ? a.base : baseB, { productId, userId: 'zoe' }, key)),
    );

    expect(countBy(results, (r) => r.status)).toEqual({ 200: 50 });
    expect(new Set(results.map((r) => r.body.orderId)).size).toBe(1);
    expect(results.filter((r) => r.headers['idempotent-replayed'] === 'true')).toHaveLength(49);
    expect(await redisStock(a.redis, productId)).toBe(9);
    expect(await topicEndOffset(a.topic)).toBe(offsetBefore + 1);
  });

  it('a sale sold out through one process is sold out through the other', async () => {
    const productId = uniqueName('pods-sold');
    await initSale(a.base, { productId, quantity: 3 });
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) => order(i % 2 ? a.base : baseB, { productId, userId: `p-${i}` })),
    );
    expect(countBy(results, (r) => r.status)).toEqual({ 200: 3, 409: 37 });
    expect(await redisStock(a.redis, productId)).toBe(0);
  });
});
