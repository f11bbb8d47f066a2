// One PostgreSQL transaction per Kafka batch: lock the batch's products, read what is already
// stored, decide (allocate.ts), insert every new order with one multi-row INSERT (unnest arrays:
// 10 parameters whatever the batch size) and take the stock with one UPDATE per product — 5 round
// trips per batch: BEGIN, lock, read, insert+update, COMMIT.
import type { Pool, PoolClient } from 'pg';
import type { OrderMessage } from '../kafka/order-message.js';
import { allocate, idempotencyKeyOf, type Decision } from './allocate.js';

export interface PersistResult {
  decisions: Decision[];
  redelivered: number;
}

/** Thrown when the INSERT skipped a row the decision said was new: someone else wrote concurrently; retry. */
export class ConcurrentWriteError extends Error {
  constructor(expected: number, inserted: number) {
    super(`inserted ${inserted} of ${expected} new orders: a concurrent writer stored some of them; retrying the batch`);
    this.name = 'ConcurrentWriteError';
  }
}

const LOCK_PRODUCTS = `SELECT id, stock FROM products WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE`;

// Orders already stored by id (redeliveries) and holders of the batch's idempotency keys.
const READ_STORED = `
  SELECT id::text AS id, product_id, idempotency_key, duplicate_of IS NULL AS holds_key
    FROM orders WHERE id = ANY($1::uuid[])
  UNION ALL
  SELECT o.id::text, o.product_id, o.idempotency_key, true
    FROM unnest($2::text[], $3::text[]) AS k(product_id, idempotency_key)
    JOIN orders o ON o.product_id = k.product_id AND o.idempotency_key = k.idempotency_key AND o.duplicate_of IS NULL`;

// ON CONFLICT DO NOTHING makes a redelivered row a no-op; the stock update only counts the rows
// this statement really inserted (RETURNING), never the skipped ones.
const INSERT_AND_TAKE_STOCK = `
  WITH ins AS (
    INSERT INTO orders (id, product_id, user_id, idempotency_key, quantity, status, reject_reason, duplicate_of, epoch, accepted_at)
    SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::int[], $6::text[], $7::text[], $8::uuid[], $9::bigint[], $10::timestamptz[])
    ON CONFLICT DO NOTHING
    RETURNING product_id, quantity, status
  ), taken AS (
    SELECT product_id, sum(quantity)::int AS quantity FROM ins WHERE status = 'confirmed' GROUP BY product_id
  ), upd AS (
    UPDATE products p SET stock = p.stock - taken.quantity, updated_at = now()
      FROM taken WHERE p.id = taken.product_id
    RETURNING p.id
  )
  SELECT (SELECT count(*) FROM ins)::int AS inserted, (SELECT count(*) FROM upd)::int AS updated`;

async function inTransaction<T>(pool: Pool, work: (c: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    const out = await work(client);
    await client.query('COMMIT');
    return out;
  } catch (err) {
    broken = err as Error;
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    // A failed connection must not go back to the pool.
    client.release(broken);
  }
}

export async function persistBatch(pool: Pool, orders: readonly OrderMessage[]): Promise<PersistResult> {
  if (orders.length === 0) return { decisions: [], redelivered: 0 };
  const productIds = [...new Set(orders.map((o) => o.productId))];
  return inTransaction(pool, async (client) => {
    const locked = await client.query<{ id: string; stock: number }>(LOCK_PRODUCTS, [productIds]);
    const stored = await client.query<{ id: string; product_id: string; idempotency_key: string; holds_key: boolean }>(
      READ_STORED,
      [orders.map((o) => o.orderId), orders.map((o) => o.productId), orders.map((o) => o.idempotencyKey)],
    );
    const storedOrderIds = new Set<string>();
    const keyHolders = new Map<string, string>();
    for (const r of stored.rows) {
      storedOrderIds.add(r.id);
      if (r.holds_key) keyHolders.set(idempotencyKeyOf(r.product_id, r.idempotency_key), r.id);
    }
    const { decisions, redelivered, taken } = allocate(orders, {
      stock: new Map(locked.rows.map((r) => [r.id, r.stock])),
      storedOrderIds,
      keyHolders,
    });
    if (decisions.length > 0) {
      const res = await client.query<{ inserted: number; updated: number }>(INSERT_AND_TAKE_STOCK, [
        decisions.map((d) => d.order.orderId),
        decisions.map((d) => d.order.productId),
        decisions.map((d) => d.order.userId),
        decisions.map((d) => d.order.idempotencyKey),
        decisions.map((d) => d.order.quantity),
        decisions.map((d) => d.status),
        decisions.map((d) => (d.status === 'rejected' ? d.reason : null)),
        decisions.map((d) => (d.status === 'rejected' && d.reason === 'duplicate' ? d.duplicateOf : null)),
        decisions.map((d) => d.order.epoch),
        decisions.map((d) => d.order.acceptedAt),
      ]);
      const row = res.rows[0]!;
      if (row.inserted !== decisions.length) throw new ConcurrentWriteError(decisions.length, row.inserted);
      if (row.updated !== taken.size) throw new ConcurrentWriteError(taken.size, row.updated);
    }
    return { decisions, redelivered };
  });
}
