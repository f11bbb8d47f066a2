// One PostgreSQL transaction per Kafka batch: lock the batch's products, decide every order
// (allocate.ts), insert them all with one multi-row INSERT (unnest arrays: 10 parameters whatever
// the batch size) that also takes the stock with one UPDATE per product.
//
// Fast path (almost every batch): nothing of the batch is stored yet, so the transaction never
// reads `orders` and the INSERT is a plain one: BEGIN, lock, insert+update, COMMIT. If it hits a
// unique index (a redelivered orderId after a crash, or an idempotency key another order holds),
// that attempt is rolled back and the batch is redone in checked mode, which first reads what is
// stored and inserts with ON CONFLICT DO NOTHING.
import type { Pool, PoolClient } from 'pg';
import type { OrderMessage } from '../core/kafka/order-message.js';
import { allocate, idempotencyKeyOf, type Decision, type LockedState } from './allocate.js';

export interface PersistResult {
  decisions: Decision[];
  redelivered: number;
  /** True when the batch needed the checked mode (redelivery or duplicate idempotency key). */
  checked: boolean;
}

/** The INSERT skipped rows the decisions said were new. */
export class InsertConflictError extends Error {
  constructor(expected: number, inserted: number) {
    super(`inserted ${inserted} of ${expected} new orders: some were already stored (or stored concurrently)`);
    this.name = 'InsertConflictError';
  }
}

const UNIQUE_VIOLATION = '23505';

const LOCK_PRODUCTS = `SELECT id, stock FROM products WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE`;

// Checked mode: orders already stored by id (redeliveries) and the holders of the batch's
// idempotency keys. LATERAL … LIMIT 1 keeps every probe an index lookup whatever the table size.
const READ_STORED = `
  SELECT o.id::text AS id, o.product_id, o.idempotency_key, o.duplicate_of IS NULL AS holds_key
    FROM unnest($1::uuid[]) AS k(id),
         LATERAL (SELECT * FROM orders WHERE orders.id = k.id LIMIT 1) AS o
  UNION ALL
  SELECT o.id::text, o.product_id, o.idempotency_key, true
    FROM unnest($2::text[], $3::text[]) AS k(product_id, idempotency_key),
         LATERAL (SELECT * FROM orders
                   WHERE orders.product_id = k.product_id AND orders.idempotency_key = k.idempotency_key
                     AND orders.duplicate_of IS NULL LIMIT 1) AS o`;

const INSERT_COLUMNS = `INSERT INTO orders (id, product_id, user_id, idempotency_key, quantity, status, reject_reason, duplicate_of, epoch, accepted_at)
    SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::int[], $6::text[], $7::text[], $8::uuid[], $9::bigint[], $10::timestamptz[])`;

// Fast path: every row must be new (a unique violation aborts the attempt); the stock taken per
// product comes from the decisions ($11, $12).
const INSERT_AND_TAKE_STOCK_FAST = `
  WITH ins AS (${INSERT_COLUMNS}
  ), upd AS (
    UPDATE products p SET stock = p.stock - t.quantity, updated_at = now()
      FROM unnest($11::text[], $12::int[]) AS t(product_id, quantity) WHERE p.id = t.product_id
    RETURNING p.id
  )
  SELECT (SELECT count(*) FROM upd)::int AS updated`;

// Checked mode: ON CONFLICT DO NOTHING (every unique index: id and the idempotency key) never fails
// on a stored row; the stock update counts only the rows this statement really inserted (RETURNING).
const INSERT_AND_TAKE_STOCK_CHECKED = `
  WITH ins AS (${INSERT_COLUMNS}
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
    if (!(err instanceof InsertConflictError)) broken = err as Error;
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    // A connection that failed must not go back to the pool.
    client.release(broken);
  }
}

async function readStored(client: PoolClient, orders: readonly OrderMessage[]) {
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
  return { storedOrderIds, keyHolders };
}

async function attempt(client: PoolClient, orders: readonly OrderMessage[], checked: boolean): Promise<PersistResult> {
  const productIds = [...new Set(orders.map((o) => o.productId))];
  const locked = await client.query<{ id: string; stock: number }>(LOCK_PRODUCTS, [productIds]);
  // Read after the lock: a writer that committed before we got it is visible to this statement.
  const known: Omit<LockedState, 'stock'> = checked
    ? await readStored(client, orders)
    : { storedOrderIds: new Set(), keyHolders: new Map() };
  const { decisions, redelivered, taken } = allocate(orders, { stock: new Map(locked.rows.map((r) => [r.id, r.stock])), ...known });
  if (decisions.length > 0) {
    const rows = [
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
    ];
    const res = await client
      .query<{ inserted?: number; updated: number }>(
        checked ? INSERT_AND_TAKE_STOCK_CHECKED : INSERT_AND_TAKE_STOCK_FAST,
        checked ? rows : [...rows, [...taken.keys()], [...taken.values()]],
      )
      .catch((err: Error & { code?: string }) => {
        if (err.code === UNIQUE_VIOLATION) throw new InsertConflictError(decisions.length, 0);
        throw err;
      });
    const row = res.rows[0]!;
    // The fast INSERT stores every row or raises; the checked one says how many it stored.
    const inserted = row.inserted ?? decisions.length;
    if (inserted !== decisions.length) throw new InsertConflictError(decisions.length, inserted);
    if (row.updated !== taken.size) throw new Error(`stock update touched ${row.updated} products, expected ${taken.size}`);
  }
  return { decisions, redelivered, checked };
}

export async function persistBatch(pool: Pool, orders: readonly OrderMessage[]): Promise<PersistResult> {
  if (orders.length === 0) return { decisions: [], redelivered: 0, checked: false };
  try {
    return await inTransaction(pool, (c) => attempt(c, orders, false));
  } catch (err) {
    if (!(err instanceof InsertConflictError)) throw err;
  }
  // Still conflicting in checked mode means a concurrent writer (a zombie consumer): the caller retries.
  return inTransaction(pool, (c) => attempt(c, orders, true));
}
