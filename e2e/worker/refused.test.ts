// Messages PostgreSQL refuses must not block their partition: the codec refuses what the tables
// cannot store (NUL in text, integers out of range, times PostgreSQL does not parse), and a batch
// that fails deterministically (a data or constraint error) is split until the one bad message is
// isolated and dead-lettered, while every good message of the batch is stored.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DLQ_HEADERS } from '../../core/kafka/dlq.js';
import { encodeOrder, encodeOrders } from '../../core/kafka/order-message.js';
import type { RunningProcess } from '../support/processes.js';
import {
  makeOrder,
  produceRaw,
  readTopic,
  seedProduct,
  setUp,
  startWorker,
  summarize,
  uniqueName,
  waitForOrders,
  waitForZeroLag,
  type TestSetup,
} from './support.js';

let s: TestSetup;
let worker: RunningProcess;

beforeAll(async () => {
  s = await setUp('refused', 1);
  worker = await startWorker(s.workerEnv);
});

afterAll(async () => {
  await worker?.stop('SIGTERM');
  await s?.pool.end();
});

describe('messages PostgreSQL would refuse', () => {
  it('go to the DLQ, the rest of their batch is stored, the partition moves on', async () => {
    const p = uniqueName('refused');
    await seedProduct(s.pool, p, 100);
    const good = Array.from({ length: 40 }, () => makeOrder(p));
    const bad = [
      JSON.stringify({ ...makeOrder(p), idempotencyKey: 'nul\u0000key' }),
      JSON.stringify({ ...makeOrder(p), epoch: 1e21 }),
      JSON.stringify({ ...makeOrder(p), acceptedAt: '1' }),
    ];
    // One batch: good orders with the bad ones spread among them.
    const values = good.map((o) => JSON.stringify(o));
    values.splice(30, 0, bad[2]!);
    values.splice(20, 0, bad[1]!);
    values.splice(10, 0, bad[0]!);
    await produceRaw(s.topic, values.map((value) => ({ key: p, value })));

    await waitForOrders(s.pool, [p], good.length, 30_000);
    await waitForZeroLag(s.groupId, s.topic, 30_000);
    expect(await summarize(s.pool, p)).toMatchObject({ confirmed: 40, rejected: {}, stock: 60 });
    const dlq = await readTopic(`${s.topic}.dlq`, 3);
    expect(dlq.map((m) => m.value?.toString())).toEqual(bad);
    expect(dlq.map((m) => m.headers?.[DLQ_HEADERS.reason]?.toString())).toEqual([
      'idempotencyKey must be a string of 1..128 characters without NUL',
      `epoch must be an integer in 0..${Number.MAX_SAFE_INTEGER}`,
      'acceptedAt must be an ISO-8601 UTC time as the API writes it (YYYY-MM-DDTHH:mm:ss.sssZ)',
    ]);
  });

  it('a row PostgreSQL refuses (constraint) is isolated by splitting the batch and dead-lettered alone', async () => {
    const p = uniqueName('constraint');
    const refusedUser = uniqueName('refused-user');
    await seedProduct(s.pool, p, 100);
    // A real PostgreSQL refusal the codec cannot know about: a constraint on one user id.
    const constraint = `e2e_refuse_${refusedUser.replace(/[^a-z0-9]/g, '_')}`;
    await s.pool.query(`ALTER TABLE orders ADD CONSTRAINT ${constraint} CHECK (user_id <> '${refusedUser}') NOT VALID`);
    try {
      const orders = Array.from({ length: 50 }, (_, i) => makeOrder(p, i === 37 ? { userId: refusedUser } : {}));
      await produceRaw(s.topic, orders.map((o) => ({ key: p, value: JSON.stringify(o) })));
      await waitForOrders(s.pool, [p], 49, 30_000);
      await waitForZeroLag(s.groupId, s.topic, 30_000);
      expect(await summarize(s.pool, p)).toMatchObject({ confirmed: 49, rejected: {}, stock: 51 });
      const dlq = await readTopic(`${s.topic}.dlq`, 4);
      const last = dlq[3]!;
      expect(JSON.parse(last.value!.toString()).orderId).toBe(orders[37]!.orderId);
      expect(last.headers?.[DLQ_HEADERS.reason]?.toString()).toMatch(/^PostgreSQL refused the order \(SQLSTATE 23514\): .*e2e_refuse_/);
    } finally {
      await s.pool.query(`ALTER TABLE orders DROP CONSTRAINT IF EXISTS ${constraint}`);
    }
  });

  it('v2 records (many orders each): a bad order inside and a refused one go to the DLQ alone, as v1 messages; the rest is stored', async () => {
    const p = uniqueName('v2');
    const refusedUser = uniqueName('refused-v2');
    await seedProduct(s.pool, p, 100);
    const constraint = `e2e_refuse_${refusedUser.replace(/[^a-z0-9]/g, '_')}`;
    await s.pool.query(`ALTER TABLE orders ADD CONSTRAINT ${constraint} CHECK (user_id <> '${refusedUser}') NOT VALID`);
    try {
      const first = Array.from({ length: 30 }, (_, i) => makeOrder(p, i === 12 ? { userId: refusedUser } : {}));
      const second = Array.from({ length: 20 }, () => makeOrder(p));
      const badEntry = { ...makeOrder(p), epoch: 1e21 };
      // The second record as the API writes it, with one order the codec refuses spliced in.
      const raw = JSON.parse(encodeOrders(second).toString()) as { orders: unknown[] };
      const { v: _v, productId: _p, ...badFields } = badEntry;
      raw.orders.splice(5, 0, badFields);
      const v1 = makeOrder(p);
      await produceRaw(s.topic, [
        { key: p, value: encodeOrders(first).toString() },
        { key: p, value: JSON.stringify(raw) },
        { key: p, value: encodeOrder(v1).toString() },
      ]);
      await waitForOrders(s.pool, [p], 50, 30_000);
      await waitForZeroLag(s.groupId, s.topic, 30_000);
      expect(await summarize(s.pool, p)).toMatchObject({ confirmed: 50, rejected: {}, stock: 50 });
      const dlq = (await readTopic(`${s.topic}.dlq`, 6)).slice(4);
      const dead = dlq.map((m) => JSON.parse(m.value!.toString()) as Record<string, unknown>);
      expect(dead.map((d) => d.orderId).sort()).toEqual([first[12]!.orderId, badEntry.orderId].sort());
      expect(dead.every((d) => d.v === 1 && d.productId === p)).toBe(true);
      const reasons = dlq.map((m) => m.headers?.[DLQ_HEADERS.reason]?.toString());
      expect(reasons).toContain(`epoch must be an integer in 0..${Number.MAX_SAFE_INTEGER}`);
      expect(reasons.some((r) => /^PostgreSQL refused the order \(SQLSTATE 23514\)/.test(r ?? ''))).toBe(true);
    } finally {
      await s.pool.query(`ALTER TABLE orders DROP CONSTRAINT IF EXISTS ${constraint}`);
    }
  });
});
