// Two API processes behind one Redis: duplicates of a key that another process is still placing
// wait on the Redis record (not just on the in-process promise) and replay the same order, and a
// retry of an accepted order is answered that order even by a process holding the sale as sold out.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startComponent, type RunningProcess } from '../support/processes.js';
import { countBy, initSale, order, redisStock, startApi, topicEndOffset, uniqueName, type ApiHarness } from '../support/api.js';

let a: ApiHarness;
let b: RunningProcess;
let baseB: string;

beforeAll(async () => {
  a = await startApi('two-pods');
  // B keeps a sale's sold-out flag for 10 s (the most allowed), so its requests in these tests all meet the flag.
  b = await startComponent('api', { ...a.env, SOLD_OUT_CACHE_MS: '10000' }, { readyTimeoutMs: 90_000 });
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

  it('a retry of an order accepted by one process is answered that order by the other, while it holds the sale as sold out', async () => {
    // The window: the buyer's 200 was lost (timeout), the sale sold out meanwhile, and the retry is
    // routed to another pod that answers "sold out" from memory. Answering 409 there would tell the
    // buyer the order failed while it is in Kafka and will be confirmed.
    const productId = uniqueName('pods-retry');
    await initSale(a.base, { productId, quantity: 1 });
    const key = randomUUID();
    const first = await order(a.base, { productId, userId: 'amy' }, key);
    expect(first.status).toBe(200);
    const other = await order(baseB, { productId, userId: 'bob' });
    expect([other.status, other.body.status]).toEqual([409, 'sold_out']); // B now holds the flag

    const retries = await Promise.all(Array.from({ length: 5 }, () => order(baseB, { productId, userId: 'amy' }, key)));
    for (const r of retries) {
      expect([r.status, r.body.orderId, r.headers['idempotent-replayed']]).toEqual([200, first.body.orderId, 'true']);
    }
    // The same key with other parameters is still refused, and a new buyer still told sold out.
    expect((await order(baseB, { productId, userId: 'eve' }, key)).status).toBe(422);
    const late = await Promise.all(Array.from({ length: 20 }, (_, i) => order(baseB, { productId, userId: `late-${i}` })));
    expect(countBy(late, (r) => `${r.status} ${r.body.status}`)).toEqual({ '409 sold_out': 20 });
    expect(await redisStock(a.redis, productId)).toBe(0);
  });
});
