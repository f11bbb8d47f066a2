// The worker against real Kafka and PostgreSQL: exactly-once persistence, stock math, no oversell,
// duplicates by idempotency key, poison messages to the DLQ.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DLQ_HEADERS } from '../../core/kafka/dlq.js';
import { getOrderStatus } from '../../core/postgres/orders.js';
import { beginAndLockProducts } from '../../core/postgres/products.js';
import type { RunningProcess } from '../support/processes.js';
import {
  makeOrder,
  produceOrders,
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
  s = await setUp('persist');
  worker = await startWorker(s.workerEnv);
});

afterAll(async () => {
  const code = await worker?.stop('SIGTERM');
  await s?.pool.end();
  expect(code).toBe(0); // graceful shutdown
});

describe('worker persistence', () => {
  it('persists N orders exactly once and decrements stock exactly', async () => {
    const products = [uniqueName('p'), uniqueName('p'), uniqueName('p')];
    for (const p of products) await seedProduct(s.pool, p, 1000);
    // 300 orders per product, quantities 1,2,3 repeating: 600 units each
    const orders = products.flatMap((p) => Array.from({ length: 300 }, (_, i) => makeOrder(p, { quantity: (i % 3) + 1 })));
    await produceOrders(s.topic, orders);
    await waitForOrders(s.pool, products, 900);
    await waitForZeroLag(s.groupId, s.topic);
    for (const p of products) {
      expect(await summarize(s.pool, p)).toEqual({
        stock: 400,
        confirmed: 300,
        confirmedQuantity: 600,
        rejected: {},
        rows: 300,
        distinctIds: 300,
      });
    }
    // A redelivery of the same messages (same orderIds) is a no-op.
    await produceOrders(s.topic, orders.slice(0, 50));
    await waitForZeroLag(s.groupId, s.topic);
    expect((await summarize(s.pool, products[0]!)).rows).toBe(300);
    expect((await summarize(s.pool, products[0]!)).stock).toBe(400);
    expect(await getOrderStatus(s.pool, orders[0]!.orderId)).toEqual({
      status: 'confirmed',
      orderId: orders[0]!.orderId,
      productId: products[0],
      quantity: 1,
    });
  });

  it('confirms exactly the stock and rejects the rest out_of_stock; stock ends at 0', async () => {
    const p = uniqueName('scarce');
    await seedProduct(s.pool, p, 100);
    const orders = Array.from({ length: 250 }, () => makeOrder(p));
    await produceOrders(s.topic, orders);
    await waitForOrders(s.pool, [p], 250);
    expect(await summarize(s.pool, p)).toEqual({
      stock: 0,
      confirmed: 100,
      confirmedQuantity: 100,
      rejected: { out_of_stock: 150 },
      rows: 250,
      distinctIds: 250,
    });
    // Offset order decides: the first 100 produced are the confirmed ones (one partition per product).
    const confirmed = await s.pool.query<{ id: string }>("SELECT id::text FROM orders WHERE product_id = $1 AND status = 'confirmed'", [p]);
    expect(new Set(confirmed.rows.map((r) => r.id))).toEqual(new Set(orders.slice(0, 100).map((o) => o.orderId)));
    expect(await getOrderStatus(s.pool, orders[249]!.orderId)).toMatchObject({ status: 'rejected', reason: 'out_of_stock' });
  });

  it('a second order with the same idempotency key is rejected as a duplicate of the first', async () => {
    const p = uniqueName('dup');
    await seedProduct(s.pool, p, 10);
    const first = makeOrder(p, { idempotencyKey: 'retry-after-redis-loss' });
    const second = makeOrder(p, { idempotencyKey: 'retry-after-redis-loss', userId: first.userId });
    await produceOrders(s.topic, [first]);
    await waitForOrders(s.pool, [p], 1);
    await produceOrders(s.topic, [second]); // a later batch: the key holder is read from PostgreSQL
    await waitForOrders(s.pool, [p], 2);
    expect(await getOrderStatus(s.pool, first.orderId)).toMatchObject({ status: 'confirmed' });
    expect(await getOrderStatus(s.pool, second.orderId)).toEqual({
      status: 'rejected',
      orderId: second.orderId,
      productId: p,
      quantity: 1,
      reason: 'duplicate',
      duplicateOf: first.orderId,
    });
    expect((await summarize(s.pool, p)).stock).toBe(9);
  });

  it('sends poison messages to the DLQ with the reason and goes on with the next orders', async () => {
    const p = uniqueName('poison');
    await seedProduct(s.pool, p, 10);
    const before = makeOrder(p);
    const after = makeOrder(p);
    const unknownField = JSON.stringify({ ...makeOrder(p), discount: 50 });
    const badQuantity = JSON.stringify({ ...makeOrder(p), quantity: 0 });
    await produceRaw(s.topic, [
      { key: p, value: JSON.stringify(before) },
      { key: p, value: '{not json' },
      { key: p, value: unknownField },
      { key: p, value: badQuantity },
      { key: p, value: JSON.stringify(after) },
    ]);
    await waitForOrders(s.pool, [p], 2);
    await waitForZeroLag(s.groupId, s.topic);
    expect(await getOrderStatus(s.pool, after.orderId)).toMatchObject({ status: 'confirmed' });
    const dlq = await readTopic(`${s.topic}.dlq`, 3);
    expect(dlq.map((m) => [m.key?.toString(), m.value?.toString(), m.headers?.[DLQ_HEADERS.reason]?.toString()])).toEqual([
      [p, '{not json', 'not JSON'],
      [p, unknownField, 'unknown field discount'],
      [p, badQuantity, 'quantity must be an integer in 1..100'],
    ]);
    expect(dlq.map((m) => m.headers?.[DLQ_HEADERS.topic]?.toString())).toEqual([s.topic, s.topic, s.topic]);
    expect((await summarize(s.pool, p)).stock).toBe(8);
  });

  it('exposes health, readiness and metrics', async () => {
    const base = `http://127.0.0.1:${worker.port}`;
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    // confirmed so far in this file: 900 + 100 + 1 (key holder) + 2 (around the poison) = 1003;
    // 150 out of stock, 1 duplicate, 3 poison, 50 redelivered
    expect(metrics).toContain('fluxgate_worker_orders_persisted_total{status="confirmed",reason=""} 1003');
    expect(metrics).toContain('fluxgate_worker_orders_persisted_total{status="rejected",reason="out_of_stock"} 150');
    expect(metrics).toContain('fluxgate_worker_orders_persisted_total{status="rejected",reason="duplicate"} 1');
    expect(metrics).toContain('fluxgate_worker_dlq_total 3');
    expect(metrics).toContain('fluxgate_worker_orders_redelivered_total 50');
    expect(metrics).toMatch(/fluxgate_worker_consumer_lag\{topic="[^"]+",partition="\d+"\} 0/);
  });

  it('stores ids and idempotency keys character for character, whatever an array literal or the COPY text format would make of them', async () => {
    const p = uniqueName('chars');
    await seedProduct(s.pool, p, 100);
    const keys = ['NULL', 'null', 'a"b', 'a\\b', '\\"', '{x,y}', ' padded ', 'a,b', "it's", 'ünïcödé ✓', '""', '\\', 'tab\there', '\\N', '\\.', 'line\nbreak', 'cr\rx', '\\t'];
    const users = ['NULL', 'u:1', 'u.2', 'u-3_'];
    const orders = keys.map((k, i) => makeOrder(p, { idempotencyKey: k, userId: users[i % users.length]!, epoch: 2 ** 40 + i }));
    await produceOrders(s.topic, orders);
    await waitForOrders(s.pool, [p], orders.length);
    const { rows } = await s.pool.query<{ id: string; user_id: string; idempotency_key: string; epoch: string; accepted_ms: string; status: string }>(
      `SELECT id::text, user_id, idempotency_key, epoch::text, (extract(epoch FROM accepted_at) * 1000)::bigint::text AS accepted_ms, status
         FROM orders WHERE product_id = $1`,
      [p],
    );
    const stored = new Map(rows.map((r) => [r.id, r]));
    for (const o of orders)
      expect(stored.get(o.orderId)).toEqual({
        id: o.orderId,
        user_id: o.userId,
        idempotency_key: o.idempotencyKey,
        epoch: String(o.epoch),
        accepted_ms: String(Date.parse(o.acceptedAt)),
        status: 'confirmed',
      });
  });

  it('BEGIN and the product lock in one round trip: ids are inlined as literals, whatever they hold', async () => {
    const ids = [`${uniqueName('q')}'uote`, `${uniqueName('b')}\\slash`, `${uniqueName('d')}$$`];
    for (const [i, id] of ids.entries()) await seedProduct(s.pool, id, i + 1);
    const client = await s.pool.connect();
    try {
      const locked = await beginAndLockProducts(client, ids);
      expect(locked).toEqual([...ids].sort().map((id) => ({ id, stock: ids.indexOf(id) + 1, perUserLimit: null })));
      expect((await client.query<{ open: boolean }>("SELECT now() = statement_timestamp() AS open")).rows[0]!.open).toBe(false); // inside a transaction
    } finally {
      await client.query('ROLLBACK');
      client.release();
    }
  });
});
