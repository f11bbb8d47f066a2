// PostgreSQL enforces the per-user limit (products.per_user_limit, units) whatever Redis counted:
// Redis's counters are lost on a FLUSHALL, a restart or a failover, and then the orders reaching
// the worker are the only place left to hold the limit.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONFIRMED_UNITS_SQL, confirmedUnitsPerUser, getOrderStatus } from '../../core/postgres/orders.js';
import type { RunningProcess } from '../support/processes.js';
import { makeOrder, produceOrders, setUp, startWorker, summarize, uniqueName, waitForOrders, waitForZeroLag, type TestSetup } from './support.js';

let s: TestSetup;
let worker: RunningProcess;

beforeAll(async () => {
  s = await setUp('user-limit', 1);
  worker = await startWorker(s.workerEnv);
});

afterAll(async () => {
  await worker?.stop('SIGTERM');
  await s?.pool.end();
});

describe('per-user limit in PostgreSQL', () => {
  it('rejects over_user_limit every order past the limit, in one batch and across batches', async () => {
    const p = uniqueName('limited');
    await s.pool.query('INSERT INTO products (id, stock, initial_stock, per_user_limit) VALUES ($1, 100, 100, 2)', [p]);
    // As if Redis had forgotten ann's and bob's counters: every order got through the gate.
    const first = [
      makeOrder(p, { userId: 'ann' }),
      makeOrder(p, { userId: 'ann' }),
      makeOrder(p, { userId: 'ann' }), // third unit: over
      makeOrder(p, { userId: 'bob', quantity: 3 }), // over on its own
      makeOrder(p, { userId: 'bob', quantity: 2 }),
    ];
    await produceOrders(s.topic, first);
    await waitForOrders(s.pool, [p], first.length);
    const later = [makeOrder(p, { userId: 'ann' }), makeOrder(p, { userId: 'cid', quantity: 2 })];
    await produceOrders(s.topic, later); // a later batch: what ann holds is read from PostgreSQL
    await waitForOrders(s.pool, [p], first.length + later.length);
    await waitForZeroLag(s.groupId, s.topic);

    const { rows } = await s.pool.query<{ user_id: string; units: number }>(
      `SELECT user_id, sum(quantity)::int AS units FROM orders WHERE product_id = $1 AND status = 'confirmed' GROUP BY 1 ORDER BY 1`,
      [p],
    );
    expect(rows).toEqual([
      { user_id: 'ann', units: 2 },
      { user_id: 'bob', units: 2 },
      { user_id: 'cid', units: 2 },
    ]);
    expect(await summarize(s.pool, p)).toMatchObject({ stock: 94, confirmed: 4, rejected: { over_user_limit: 3 } });
    expect(await getOrderStatus(s.pool, later[0]!.orderId)).toMatchObject({ status: 'rejected', reason: 'over_user_limit' });
  });

  it('reads what the users of a batch hold by index, never by scanning every sale\'s orders', async () => {
    // A table holding other sales' orders (as production does), then one batch's 4,000 users.
    const p = uniqueName('limited-read');
    const other = uniqueName('other-sale');
    await s.pool.query('INSERT INTO products (id, stock, initial_stock, per_user_limit) VALUES ($1, 100000, 100000, 5)', [p]);
    await s.pool.query(
      `INSERT INTO orders (id, product_id, user_id, idempotency_key, quantity, status, accepted_at)
       SELECT gen_random_uuid(), $1, 'v-' || g, 'k-' || g, 1, 'confirmed', now() FROM generate_series(1, 30000) g`,
      [other],
    );
    await s.pool.query(
      `INSERT INTO orders (id, product_id, user_id, idempotency_key, quantity, status, accepted_at)
       VALUES (gen_random_uuid(), $1, 'u-7', 'held-1', 2, 'confirmed', now()), (gen_random_uuid(), $1, 'u-7', 'held-2', 1, 'confirmed', now()),
              (gen_random_uuid(), $1, 'u-9', 'held-3', 4, 'confirmed', now())`,
      [p],
    );
    await s.pool.query('ANALYZE orders');
    const pairs = Array.from({ length: 4000 }, (_, i) => ({ productId: p, userId: `u-${i}` }));
    const client = await s.pool.connect();
    try {
      await client.query('BEGIN');
      // A delta inside one transaction: PostgreSQL 15 flushes a backend's table counters at most
      // once a second, so pg_stat_xact_user_tables can still hold scans of this connection's
      // earlier transactions (the other test's reads by product_id); nothing flushes mid-transaction.
      const seqScans = async () => Number((await client.query<{ seq_scan: string }>(
        "SELECT seq_scan FROM pg_stat_xact_user_tables WHERE relname = 'orders'")).rows[0]?.seq_scan ?? 0);
      const before = await seqScans();
      const held = await confirmedUnitsPerUser(client, pairs);
      const scans = (await seqScans()) - before;
      expect(held.sort((a, b) => a.userId.localeCompare(b.userId))).toEqual([
        { productId: p, userId: 'u-7', units: 3 },
        { productId: p, userId: 'u-9', units: 4 },
      ]);
      // On a failure, say how the planner read orders (and what it believed of the table).
      const why = scans === 0 ? '' : JSON.stringify({
        plan: (await client.query(`EXPLAIN ${CONFIRMED_UNITS_SQL}`, [pairs.map((x) => x.productId), pairs.map((x) => x.userId)])).rows.map((r) => r['QUERY PLAN']),
        stats: (await client.query("SELECT reltuples, relpages FROM pg_class WHERE relname = 'orders'")).rows[0],
      });
      expect(scans, why).toBe(0);
    } finally {
      await client.query('ROLLBACK');
      client.release();
      await s.pool.query('DELETE FROM orders WHERE product_id = ANY($1)', [[p, other]]);
    }
  });
});
