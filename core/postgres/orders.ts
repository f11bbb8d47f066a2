// Every SQL statement on the orders table: the API's reads (GET /order/:orderId; PostgreSQL is the
// truth, an id it does not hold yet is the caller's business) and the worker's batch writes.
import type { Pool, PoolClient } from 'pg';
import { copyFromStdin } from './copy-in.js';

type Queryable = Pick<Pool, 'query'>;

/** Why the worker stored an order rejected (the reject_reason column). */
export type RejectReason = 'out_of_stock' | 'duplicate' | 'unknown_product' | 'over_user_limit';

export type StoredOrderStatus =
  | { status: 'confirmed'; orderId: string; productId: string; quantity: number }
  | {
      status: 'rejected';
      orderId: string;
      productId: string;
      quantity: number;
      reason: RejectReason;
      /** For reason 'duplicate': the order that holds the idempotency key. */
      duplicateOf?: string;
    };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The stored status of an order, or null when PostgreSQL does not hold it (yet). A non-UUID id is never stored: null. */
export async function getOrderStatus(pool: Pick<Pool, 'query'>, orderId: string): Promise<StoredOrderStatus | null> {
  if (!UUID.test(orderId)) return null;
  const { rows } = await pool.query<{
    id: string;
    product_id: string;
    quantity: number;
    status: 'confirmed' | 'rejected';
    reject_reason: RejectReason | null;
    duplicate_of: string | null;
  }>('SELECT id::text, product_id, quantity, status, reject_reason, duplicate_of::text FROM orders WHERE id = $1', [orderId]);
  const r = rows[0];
  if (!r) return null;
  if (r.status === 'confirmed') return { status: 'confirmed', orderId: r.id, productId: r.product_id, quantity: r.quantity };
  return {
    status: 'rejected',
    orderId: r.id,
    productId: r.product_id,
    quantity: r.quantity,
    reason: r.reject_reason ?? 'out_of_stock',
    ...(r.duplicate_of ? { duplicateOf: r.duplicate_of } : {}),
  };
}

/** One row the worker inserts. */
export interface OrderRow {
  orderId: string;
  productId: string;
  userId: string;
  idempotencyKey: string;
  quantity: number;
  status: 'confirmed' | 'rejected';
  rejectReason: RejectReason | null;
  duplicateOf: string | null;
  epoch: number;
  acceptedAt: string;
}

// unnest arrays: 10 parameters whatever the batch size.
const INSERT_ROWS = `INSERT INTO orders (id, product_id, user_id, idempotency_key, quantity, status, reject_reason, duplicate_of, epoch, accepted_at)
    SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::int[], $6::text[], $7::text[], $8::uuid[], $9::bigint[], $10::timestamptz[])`;

/** One element of a text[] literal: always quoted (so "NULL" stays a string), \ and " escaped. */
function quoted(v: string): string {
  return v.includes('"') || v.includes('\\') ? `"${v.replace(/["\\]/g, '\\$&')}"` : `"${v}"`;
}

/** A text[] literal of `values` (quoted elements), built in one pass instead of pg's per-element encoding. */
function textArray(values: readonly string[]): string {
  let out = '';
  for (let i = 0; i < values.length; i++) out += (i === 0 ? '' : ',') + quoted(values[i]!);
  return `{${out}}`;
}

function nullable(v: string | null): string {
  return v === null ? 'NULL' : quoted(v);
}

/**
 * The ten column arrays as PostgreSQL array literals, built in one pass over the rows: pg's generic
 * array encoding (prepareValue, escapeElement per element) was ~7 % of the worker's CPU. Numbers
 * are integers (the codec's check), so they need no quoting; the other values are quoted.
 */
function columns(rows: readonly OrderRow[]): string[] {
  let id = '', product = '', user = '', key = '', quantity = '', status = '', reason = '', dupOf = '', epoch = '', at = '';
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i]!;
    const sep = i === 0 ? '' : ',';
    id += sep + quoted(r.orderId);
    product += sep + quoted(r.productId);
    user += sep + quoted(r.userId);
    key += sep + quoted(r.idempotencyKey);
    quantity += sep + String(r.quantity);
    status += sep + r.status;
    reason += sep + nullable(r.rejectReason);
    dupOf += sep + nullable(r.duplicateOf);
    epoch += sep + String(r.epoch);
    at += sep + quoted(r.acceptedAt);
  }
  return [id, product, user, key, quantity, status, reason, dupOf, epoch, at].map((c) => `{${c}}`);
}

const COPY_ROWS = 'COPY orders (id, product_id, user_id, idempotency_key, quantity, status, reject_reason, duplicate_of, epoch, accepted_at) FROM STDIN';

const COPY_ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };
const NEEDS_COPY_ESCAPE = /[\\\t\n\r]/;

/** One text value of COPY's text format: backslash, tab, newline and CR escaped (\N is NULL). */
function copyText(v: string | null): string {
  if (v === null) return '\\N';
  return NEEDS_COPY_ESCAPE.test(v) ? v.replace(/[\\\t\n\r]/g, (c) => COPY_ESCAPES[c]!) : v;
}

/** One row of COPY's text format, newline included. */
export function copyLine(r: OrderRow): string {
  return `${copyText(r.orderId)}\t${copyText(r.productId)}\t${copyText(r.userId)}\t${copyText(r.idempotencyKey)}\t${r.quantity}\t${r.status}\t${copyText(r.rejectReason)}\t${copyText(r.duplicateOf)}\t${r.epoch}\t${copyText(r.acceptedAt)}\n`;
}

/** The COPY data of some rows: copyLine of each, in order, and how many there are. */
export interface OrdersCopyData {
  rows: number;
  data: Buffer;
}

export function ordersCopyData(rows: readonly OrderRow[]): OrdersCopyData {
  let text = '';
  for (const r of rows) text += copyLine(r);
  return { rows: rows.length, data: Buffer.from(text) };
}

/**
 * Inserts every row or raises (a unique violation, 23505, when one is already stored): one COPY.
 * `then`, another statement of the transaction (the stock update), runs right after it in the same
 * round trip; its row count is returned (undefined without one).
 */
export async function insertOrders(db: Pick<PoolClient, 'query'>, copy: OrdersCopyData, then?: string): Promise<number | undefined> {
  const [copied, thenRows] = await copyFromStdin(db, then === undefined ? COPY_ROWS : `${COPY_ROWS}; ${then}`, copy.data);
  if (copied !== copy.rows) throw new Error(`COPY stored ${copied} of ${copy.rows} orders`);
  if (then !== undefined && thenRows === undefined) throw new Error('no reply for the statement after the COPY');
  return thenRows;
}

/**
 * Inserts the rows not already stored (ON CONFLICT DO NOTHING on every unique index: id and the
 * idempotency key). Returns the confirmed quantity it really inserted per product.
 */
export async function insertNewOrders(db: Queryable, rows: readonly OrderRow[]): Promise<{ inserted: number; taken: Map<string, number> }> {
  const res = await db.query<{ product_id: string; quantity: number; status: string }>(
    `${INSERT_ROWS} ON CONFLICT DO NOTHING RETURNING product_id, quantity, status`,
    columns(rows),
  );
  const taken = new Map<string, number>();
  for (const r of res.rows)
    if (r.status === 'confirmed') taken.set(r.product_id, (taken.get(r.product_id) ?? 0) + r.quantity);
  return { inserted: res.rows.length, taken };
}

export interface StoredKeys {
  /** Order ids of the batch already stored. */
  storedOrderIds: Set<string>;
  /** The holder of each (productId, idempotencyKey) of the batch, keyed by `keyOf`. */
  keyHolders: Map<string, string>;
}

// Orders already stored by id (redeliveries) and the holders of the batch's idempotency keys.
// LATERAL … LIMIT 1 keeps every probe an index lookup whatever the table size.
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

export async function readStoredKeys(
  db: Queryable,
  orders: ReadonlyArray<{ orderId: string; productId: string; idempotencyKey: string }>,
  keyOf: (productId: string, idempotencyKey: string) => string,
): Promise<StoredKeys> {
  const stored = await db.query<{ id: string; product_id: string; idempotency_key: string; holds_key: boolean }>(READ_STORED, [
    orders.map((o) => o.orderId),
    orders.map((o) => o.productId),
    orders.map((o) => o.idempotencyKey),
  ]);
  const storedOrderIds = new Set<string>();
  const keyHolders = new Map<string, string>();
  for (const r of stored.rows) {
    storedOrderIds.add(r.id);
    if (r.holds_key) keyHolders.set(keyOf(r.product_id, r.idempotency_key), r.id);
  }
  return { storedOrderIds, keyHolders };
}

/** $1 product ids, $2 user ids (pairs): confirmed units of each pair that holds any. */
export const CONFIRMED_UNITS_SQL = `SELECT k.product_id, k.user_id, u.units
       FROM unnest($1::text[], $2::text[]) AS k(product_id, user_id),
            LATERAL (SELECT sum(o.quantity)::int AS units FROM orders o
                      WHERE o.product_id = k.product_id AND o.user_id = k.user_id AND o.status = 'confirmed') AS u
      WHERE u.units IS NOT NULL`;

/** Confirmed units per (product, user) for the given pairs; pairs holding none are absent. */
export async function confirmedUnitsPerUser(
  db: Queryable,
  pairs: ReadonlyArray<{ productId: string; userId: string }>,
): Promise<Array<{ productId: string; userId: string; units: number }>> {
  if (pairs.length === 0) return [];
  // LATERAL: one index lookup per pair (orders_product_user_confirmed_idx, index-only). A plain
  // join let the planner hash the whole orders table, every sale's orders, once per batch.
  const { rows } = await db.query<{ product_id: string; user_id: string; units: number }>(
    CONFIRMED_UNITS_SQL,
    [textArray(pairs.map((p) => p.productId)), textArray(pairs.map((p) => p.userId))],
  );
  return rows.map((r) => ({ productId: r.product_id, userId: r.user_id, units: r.units }));
}

/** Confirmed units of every user of a sale (rebuilding Redis's per-user counters on a reseed). */
export async function confirmedUnitsByUser(db: Queryable, productId: string): Promise<Map<string, number>> {
  const { rows } = await db.query<{ user_id: string; units: number }>(
    `SELECT user_id, sum(quantity)::int AS units FROM orders WHERE product_id = $1 AND status = 'confirmed' GROUP BY user_id`,
    [productId],
  );
  return new Map(rows.map((r) => [r.user_id, r.units]));
}

/**
 * The confirmed order holding each idempotency key of a sale (rebuilding Redis's idempotency
 * records on a reseed). A confirmed order is never a duplicate, so it is the key's holder.
 */
export async function confirmedKeyHolders(db: Queryable, productId: string): Promise<Array<{
  idempotencyKey: string; orderId: string; userId: string; quantity: number; acceptedAtMs: number;
}>> {
  const { rows } = await db.query<{ idempotency_key: string; id: string; user_id: string; quantity: number; accepted_ms: string }>(
    `SELECT idempotency_key, id::text, user_id, quantity, floor(extract(epoch FROM accepted_at) * 1000)::bigint::text AS accepted_ms
       FROM orders WHERE product_id = $1 AND status = 'confirmed'`,
    [productId],
  );
  return rows.map((r) => ({ idempotencyKey: r.idempotency_key, orderId: r.id, userId: r.user_id, quantity: r.quantity, acceptedAtMs: Number(r.accepted_ms) }));
}
