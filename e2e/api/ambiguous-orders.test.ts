// Orders whose fate the API cannot know at once: a produce that may have written its batch (the
// broker frozen past the request timeout), a reservation whose pod died before or after producing,
// a Redis reply lost with the connection, a key reused with other parameters. For each: the key
// keeps one orderId, no 200 ends rejected, and Redis's stock equals PostgreSQL's once quiet.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeOrder, orderKey } from '../../core/kafka/order-message.js';
import { readIdempotencyRecord, reserve } from '../../core/redis/reserve.js';
import { ServiceControl } from '../../tools/stack/control.js';
import type { RunningProcess } from '../support/processes.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';
import {
  initSale,
  kafka,
  order,
  redisStock,
  requireEnv,
  settledSale,
  startApi,
  startWorkerFor,
  uniqueName,
  waitFor,
  type ApiHarness,
  type Res,
} from '../support/api.js';

const STALE_MS = 10_000; // PENDING_STALE_MS's lowest allowed value
const control = new ServiceControl();
let h: ApiHarness;
let redisProxy: TcpProxy;
let worker: RunningProcess | undefined;

beforeAll(async () => {
  const redisUrl = new URL(requireEnv('REDIS_URL'));
  redisProxy = await startTcpProxy({ host: redisUrl.hostname, port: Number(redisUrl.port) });
  redisUrl.port = String(redisProxy.port);
  h = await startApi('ambiguous', {
    REDIS_URL: redisUrl.toString(), // through the proxy, so a test can lose a reply
    KAFKA_PRODUCERS: '1',
    KAFKA_PRODUCE_RETRIES: '1',
    KAFKA_REQUEST_TIMEOUT_MS: '1000',
    PENDING_STALE_MS: String(STALE_MS),
    IDEMPOTENCY_WAIT_MS: '500',
  });
});

afterAll(async () => {
  const pid = control.pid('kafka');
  if (pid) process.kill(pid, 'SIGCONT');
  await worker?.stop('SIGKILL');
  await h?.close();
  await redisProxy?.close();
});

const ensureWorker = async () => (worker ??= await startWorkerFor(h));

/** As a client does: the same key again while the answer is 503. */
async function untilAnswered(productId: string, userId: string, key: string): Promise<Res> {
  return waitFor(`an answer for ${key}`, async () => {
    const r = await order(h.base, { productId, userId }, key);
    return r.status === 503 ? undefined : r;
  });
}

/** Many buyers until the sale is sold out; the orderIds answered 200. */
async function sellOut(productId: string): Promise<string[]> {
  const accepted: string[] = [];
  for (let round = 0; ; round++) {
    const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => untilAnswered(productId, `buyer-${round}-${i}`, randomUUID())));
    for (const a of answers) if (a.status === 200) accepted.push(a.body.orderId);
    if (answers.every((a) => a.status === 409 && a.body.status === 'sold_out')) return accepted;
  }
}

/** The invariants, from what clients saw and what the stores hold. */
async function expectSettled(productId: string, accepted: string[], stock: number) {
  const { orders, redisStock: left } = await settledSale(h, productId, accepted);
  const byId = new Map(orders.map((o) => [o.id, o]));
  const brokenPromises = accepted.filter((id) => byId.get(id)?.status !== 'confirmed');
  expect(brokenPromises).toEqual([]);
  const confirmed = orders.filter((o) => o.status === 'confirmed');
  expect(new Set(confirmed.map((o) => o.idempotencyKey)).size).toBe(confirmed.length); // one per key
  expect({ confirmed: confirmed.length, left }).toEqual({ confirmed: stock, left: 0 });
  return orders;
}

describe('ambiguous and abandoned orders', () => {
  it('a produce that may have been written keeps its unit and its key: the retry gets the same orderId', async () => {
    const productId = uniqueName('maybe-written');
    await initSale(h.base, { productId, quantity: 5 });
    const accepted = [(await order(h.base, { productId, userId: 'warm-up' })).body.orderId as string]; // connections and metadata ready

    const key = randomUUID();
    const broker = control.pid('kafka')!;
    process.kill(broker, 'SIGSTOP'); // the request reaches the broker's socket; no answer before the timeout
    let first: Res;
    try {
      first = await order(h.base, { productId, userId: 'frozen' }, key);
    } finally {
      process.kill(broker, 'SIGCONT'); // the broker then appends the batch it had received
    }
    expect(first.status).toBe(503);
    expect(first.headers['retry-after']).toBe('1');
    const stockAfter503 = await redisStock(h.redis, productId);

    const retried = await untilAnswered(productId, 'frozen', key);
    expect(retried.status).toBe(200);
    accepted.push(retried.body.orderId);

    await ensureWorker();
    accepted.push(...(await sellOut(productId)));
    const orders = await expectSettled(productId, accepted, 5);
    expect(orders.filter((o) => o.idempotencyKey === key).map((o) => o.id)).toEqual([retried.body.orderId]);
    expect({ stockAfter503, orderIdOf503: first.body.orderId }).toEqual({ stockAfter503: 3, orderIdOf503: retried.body.orderId });
  });

  it('a reservation never confirmed (pod died before or after producing) is taken over under its first orderId', async () => {
    const productId = uniqueName('abandoned');
    await initSale(h.base, { productId, quantity: 5 });
    // Two "pods" reserve and die: one before producing, one after producing (its confirm lost).
    const reservation = (userId: string) => ({
      orderId: randomUUID(),
      productId,
      userId,
      idempotencyKey: randomUUID(),
      quantity: 1,
      idempotencyTtlSec: 600,
      orderStatusTtlSec: 600,
      pendingStaleMs: STALE_MS,
    });
    const diedBefore = reservation('died-before');
    const diedAfter = reservation('died-after');
    for (const r of [diedBefore, diedAfter]) expect(await reserve(h.redis, r)).toMatchObject({ kind: 'ok' });
    const record = (await readIdempotencyRecord(h.redis, productId, diedAfter.idempotencyKey))!;
    const producer = kafka().producer();
    await producer.connect();
    const message = { v: 1 as const, ...diedAfter, acceptedAt: new Date(record.acceptedAtMs).toISOString(), epoch: record.epoch };
    await producer.send({ topic: h.topic, acks: -1, messages: [{ key: orderKey(message), value: encodeOrder(message) }] });
    await producer.disconnect();

    await new Promise((r) => setTimeout(r, STALE_MS + 500));
    const accepted: string[] = [];
    for (const r of [diedBefore, diedAfter]) {
      const retried = await untilAnswered(productId, r.userId, r.idempotencyKey);
      expect(retried.status).toBe(200);
      expect(retried.body.orderId).toBe(r.orderId);
      accepted.push(r.orderId);
    }
    expect(await redisStock(h.redis, productId)).toBe(3);

    await ensureWorker();
    accepted.push(...(await sellOut(productId)));
    const orders = await expectSettled(productId, accepted, 5);
    for (const r of [diedBefore, diedAfter]) expect(orders.filter((o) => o.idempotencyKey === r.idempotencyKey).map((o) => o.id)).toEqual([r.orderId]);
  });

  it('a reserve whose reply is lost with the connection (ioredis re-sends it) is not its own duplicate', async () => {
    const productId = uniqueName('resent');
    await initSale(h.base, { productId, quantity: 3 });
    const warmUp = await order(h.base, { productId, userId: 'warm-up' }); // scripts loaded
    expect(warmUp.status).toBe(200);
    const key = randomUUID();
    const cut = redisProxy.cutAfterRequest((chunk) => chunk.includes(key));
    const r = await order(h.base, { productId, userId: 'cut' }, key);
    await cut;
    // ioredis re-sent the script on a new connection; that second run answers what the first reserved.
    expect({ status: r.status, stock: await redisStock(h.redis, productId) }).toEqual({ status: 200, stock: 1 });
    expect(await readIdempotencyRecord(h.redis, productId, key)).toMatchObject({ orderId: r.body.orderId });
    const again = await untilAnswered(productId, 'cut', key);
    expect({ status: again.status, orderId: again.body.orderId }).toEqual({ status: 200, orderId: r.body.orderId });
    await ensureWorker();
    const accepted = [warmUp.body.orderId, again.body.orderId, ...(await sellOut(productId))];
    await expectSettled(productId, accepted, 3);
  });

  it('a key reused with another user or quantity gets 422 idempotency_key_reused and changes nothing', async () => {
    const productId = uniqueName('reused');
    await initSale(h.base, { productId, quantity: 5 });
    const key = randomUUID();
    const alice = await order(h.base, { productId, userId: 'alice' }, key);
    expect(alice.status).toBe(200);
    for (const body of [{ productId, userId: 'bob' }, { productId, userId: 'alice', quantity: 2 }]) {
      const r = await order(h.base, body, key);
      expect({ status: r.status, body: r.body?.status }).toEqual({ status: 422, body: 'idempotency_key_reused' });
    }
    expect(await redisStock(h.redis, productId)).toBe(4);
    expect(await readIdempotencyRecord(h.redis, productId, key)).toMatchObject({ orderId: alice.body.orderId, quantity: 1 });
    const replay = await order(h.base, { productId, userId: 'alice' }, key);
    expect({ status: replay.status, orderId: replay.body.orderId }).toEqual({ status: 200, orderId: alice.body.orderId });
  });
});
