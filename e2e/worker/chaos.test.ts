// The worker through crashes and PostgreSQL outages: every order ends up in PostgreSQL exactly once,
// and the allocation is the same as without the failure (offset order decides).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ServiceControl } from '../../tools/stack/control.js';
import type { RunningProcess } from '../support/processes.js';
import {
  countOrders,
  makeOrder,
  produceOrders,
  seedProduct,
  setUp,
  startWorker,
  summarize,
  uniqueName,
  waitFor,
  waitForOrders,
  waitForZeroLag,
  type TestSetup,
} from './support.js';
import type { OrderMessage } from '../../core/kafka/order-message.js';

let s: TestSetup;
const running: RunningProcess[] = [];

beforeAll(async () => {
  s = await setUp('chaos');
});

afterAll(async () => {
  for (const w of running) await w.stop('SIGKILL');
  await s?.pool.end();
});

/** Round-robin over the products, so every batch touches all of them. */
function stream(products: string[], perProduct: number): OrderMessage[] {
  const out: OrderMessage[] = [];
  for (let i = 0; i < perProduct; i++) for (const p of products) out.push(makeOrder(p));
  return out;
}

async function expectExactAllocation(products: string[], orders: OrderMessage[], stock: number) {
  for (const p of products) {
    const mine = orders.filter((o) => o.productId === p);
    expect(await summarize(s.pool, p)).toEqual({
      stock: 0,
      confirmed: stock,
      confirmedQuantity: stock,
      rejected: { out_of_stock: mine.length - stock },
      rows: mine.length,
      distinctIds: mine.length,
    });
    const confirmed = await s.pool.query<{ id: string }>("SELECT id::text FROM orders WHERE product_id = $1 AND status = 'confirmed'", [p]);
    expect(new Set(confirmed.rows.map((r) => r.id))).toEqual(new Set(mine.slice(0, stock).map((o) => o.orderId)));
  }
}

describe('worker chaos', () => {
  it('SIGKILL in the middle of a 5,000-order stream: after restart every order is stored exactly once', async () => {
    const products = Array.from({ length: 4 }, () => uniqueName('kill'));
    for (const p of products) await seedProduct(s.pool, p, 1000);
    const orders = stream(products, 1250); // 5,000 orders, 1,000 sellable per product
    let worker = await startWorker(s.workerEnv);
    running.push(worker);
    // Small sends keep the stream flowing while the worker persists it; kill it part-way.
    const producing = produceOrders(s.topic, orders, 50);
    const atKill = await waitFor('the worker to be mid-stream', async () => {
      const n = await countOrders(s.pool, products);
      return n >= 1000 ? n : undefined;
    });
    expect(await worker.stop('SIGKILL')).toBe(null); // killed by the signal: no exit code
    await producing;
    expect(atKill).toBeLessThan(orders.length);
    worker = await startWorker(s.workerEnv);
    running.push(worker);
    await waitForOrders(s.pool, products, 5000);
    await waitForZeroLag(s.groupId, s.topic);
    expect(await countOrders(s.pool, products)).toBe(5000);
    await expectExactAllocation(products, orders, 1000);
    expect(await worker.stop('SIGTERM')).toBe(0);
  });

  it('PostgreSQL stopped while the worker runs: nothing is lost once it is back', async () => {
    const control = new ServiceControl();
    const products = Array.from({ length: 3 }, () => uniqueName('pgdown'));
    for (const p of products) await seedProduct(s.pool, p, 400);
    const orders = stream(products, 500); // 1,500 orders, 400 sellable per product
    const worker = await startWorker({ ...s.workerEnv, WORKER_RETRY_MAX_MS: '1000' });
    running.push(worker);
    await produceOrders(s.topic, orders.slice(0, 300));
    await waitForOrders(s.pool, products, 300);

    await control.stop('postgres');
    try {
      await produceOrders(s.topic, orders.slice(300));
      // The worker notices, retries with backoff, and stays up.
      await waitFor('a retried batch', async () => (worker.lines.some((l) => l.includes('"msg":"batch failed, retrying"')) ? true : undefined));
      expect(worker.child.exitCode).toBe(null);
    } finally {
      await control.start('postgres');
    }
    await waitForOrders(s.pool, products, 1500);
    await waitForZeroLag(s.groupId, s.topic);
    await expectExactAllocation(products, orders, 400);
    const metrics = await (await fetch(`http://127.0.0.1:${worker.port}/metrics`)).text();
    expect(metrics).toMatch(/fluxgate_worker_batch_retries_total\{stage="postgres"\} [1-9]/);
    expect(metrics).toContain('fluxgate_worker_orders_persisted_total{status="confirmed",reason=""} 1200');
    expect(metrics).toContain('fluxgate_worker_orders_persisted_total{status="rejected",reason="out_of_stock"} 300');
    expect(await worker.stop('SIGTERM')).toBe(0);
  });

  it('SIGTERM mid-stream commits the in-flight batch: after a restart nothing is redelivered', async () => {
    const products = Array.from({ length: 3 }, () => uniqueName('term'));
    for (const p of products) await seedProduct(s.pool, p, 10_000);
    const orders = stream(products, 1000);
    let worker = await startWorker(s.workerEnv);
    running.push(worker);
    const producing = produceOrders(s.topic, orders, 50);
    await waitFor('the worker to be mid-stream', async () => ((await countOrders(s.pool, products)) >= 500 ? true : undefined));
    expect(await worker.stop('SIGTERM')).toBe(0);
    expect(worker.lines.some((l) => l.includes('"msg":"stopped"'))).toBe(true);
    await producing;
    worker = await startWorker(s.workerEnv);
    running.push(worker);
    await waitForOrders(s.pool, products, 3000);
    await waitForZeroLag(s.groupId, s.topic);
    const metrics = await (await fetch(`http://127.0.0.1:${worker.port}/metrics`)).text();
    // Every order stored before the stop had its offset committed: the new worker stored the rest, none twice.
    expect(metrics).toContain('fluxgate_worker_orders_redelivered_total 0');
    for (const p of products) expect((await summarize(s.pool, p)).stock).toBe(9_000);
    expect(await worker.stop('SIGTERM')).toBe(0);
  });

  it('SIGTERM while PostgreSQL is down exits 0 at once and leaves the batch to the next worker', async () => {
    const control = new ServiceControl();
    const products = Array.from({ length: 2 }, () => uniqueName('termdown'));
    for (const p of products) await seedProduct(s.pool, p, 100);
    const orders = stream(products, 150); // 300 orders, 100 sellable per product
    let worker = await startWorker(s.workerEnv);
    running.push(worker);
    await control.stop('postgres');
    try {
      await produceOrders(s.topic, orders);
      await waitFor('a retried batch', async () => (worker.lines.some((l) => l.includes('"msg":"batch failed, retrying"')) ? true : undefined));
      expect(await worker.stop('SIGTERM')).toBe(0);
      expect(worker.lines.some((l) => l.includes('batch left uncommitted, it will be redelivered'))).toBe(true);
    } finally {
      await control.start('postgres');
    }
    worker = await startWorker(s.workerEnv);
    running.push(worker);
    await waitForOrders(s.pool, products, 300);
    await waitForZeroLag(s.groupId, s.topic);
    await expectExactAllocation(products, orders, 100);
    expect(await worker.stop('SIGTERM')).toBe(0);
  });
});
