// One PostgreSQL transaction per Kafka batch: lock the batch's products, decide every order
// (allocate.ts), insert them all with one COPY, then take the stock with one UPDATE.
// The SQL is core/postgres's (orders.ts, products.ts); this file is the transaction's shape.
//
// Fast path (almost every batch): nothing of the batch is stored yet, so the transaction never
// reads `orders` and the insert is a plain one: BEGIN and lock (one round trip), COPY and stock
// update (one round trip), COMMIT. When every order is confirmed (confirmsAll), the decisions and
// the COPY data are the ones prepared before the lock (prepare-batch.ts): nothing per order is
// left to do while the products are locked. If it hits a unique index (a redelivered orderId after a crash,
// or an idempotency key another order holds), that attempt is rolled back and the batch is redone
// in checked mode, which first reads what is stored and inserts with ON CONFLICT DO NOTHING.
import type { Pool, PoolClient } from 'pg';
import type { OrderMessage } from '../core/kafka/order-message.js';
import { confirmedUnitsPerUser, insertNewOrders, insertOrders, ordersCopyData, readStoredKeys } from '../core/postgres/orders.js';
import { beginAndLockProducts, takeStock, takeStockStatement, type LockedProduct } from '../core/postgres/products.js';
import { allocate, confirmsAll, idempotencyKeyOf, userUnitsKeyOf, type Allocation, type Decision, type LockedState } from './allocate.js';
import { toRow, type PreparedBatch } from './prepare-batch.js';

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

/** Runs `work`, whose first statement must BEGIN the transaction (beginAndLockProducts), then COMMIT; ROLLBACK on any error. */
async function inTransaction<T>(pool: Pool, work: (c: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  // A checked-out connection that dies (PostgreSQL restarted, a reset) emits 'error' on the client,
  // and pg-pool listens for it only while the connection is idle: unheard, that event would end the
  // process. The query in flight fails with it too, and the batch is retried.
  const onError = (err: Error) => void (broken ??= err);
  client.on('error', onError);
  try {
    const out = await work(client);
    await client.query('COMMIT');
    return out;
  } catch (err) {
    if (!(err instanceof InsertConflictError)) broken = err as Error;
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    // A connection that failed must not go back to the pool; it keeps the listener (it may still
    // report its end while being destroyed).
    if (!broken) client.off('error', onError);
    client.release(broken);
  }
}

/** The per-user limits of the batch's products and what their users already hold (read under the product lock). */
async function readUserLimits(client: PoolClient, orders: readonly OrderMessage[], locked: readonly LockedProduct[]) {
  const perUserLimit = new Map(locked.flatMap((p) => (p.perUserLimit === null ? [] : [[p.id, p.perUserLimit] as const])));
  const pairs = new Map<string, { productId: string; userId: string }>();
  for (const o of orders) if (perUserLimit.has(o.productId)) pairs.set(userUnitsKeyOf(o.productId, o.userId), o);
  const held = await confirmedUnitsPerUser(client, [...pairs.values()]);
  return { perUserLimit, userUnits: new Map(held.map((h) => [userUnitsKeyOf(h.productId, h.userId), h.units])) };
}

async function attempt(client: PoolClient, orders: readonly OrderMessage[], checked: boolean, prepared?: PreparedBatch): Promise<PersistResult> {
  const locked = await beginAndLockProducts(client, [...new Set(orders.map((o) => o.productId))]);
  // Read after the lock: a writer that committed before we got it is visible to this statement.
  const known: Omit<LockedState, 'stock'> = checked
    ? await readStoredKeys(client, orders, idempotencyKeyOf)
    : { storedOrderIds: new Set(), keyHolders: new Map() };
  const limits = await readUserLimits(client, orders, locked);
  const state: LockedState = { stock: new Map(locked.map((r) => [r.id, r.stock])), ...known, ...limits };
  // The common batch, every order confirmed, was decided and encoded before the lock (prepare-batch.ts).
  const ready = prepared?.orders === orders && confirmsAll(orders, prepared.shape, state) ? prepared : undefined;
  const { decisions, redelivered, taken }: Allocation = ready
    ? { decisions: ready.confirmed, redelivered: 0, taken: ready.shape.units }
    : allocate(orders, state);
  if (decisions.length === 0) return { decisions, redelivered, checked };
  let updated: number;
  if (!checked) {
    // Every row must be new: a unique violation aborts the attempt (redone in checked mode). The
    // stock update rides in the COPY's round trip (skipped if the COPY fails).
    const stockUpdate = takeStockStatement(taken);
    const copy = ready ? ready.copy : ordersCopyData(decisions.map(toRow));
    const touched = await insertOrders(client, copy, stockUpdate).catch((err: Error & { code?: string }) => {
      throw err.code === UNIQUE_VIOLATION ? new InsertConflictError(decisions.length, 0) : err;
    });
    updated = touched ?? 0;
  } else {
    const res = await insertNewOrders(client, decisions.map(toRow));
    if (res.inserted !== decisions.length) throw new InsertConflictError(decisions.length, res.inserted);
    updated = await takeStock(client, taken);
  }
  if (updated !== taken.size) throw new Error(`stock update touched ${updated} products, expected ${taken.size}`);
  return { decisions, redelivered, checked };
}

/** `prepared` (prepare-batch.ts) is used when it was made for exactly `orders` (not for a slice of them). */
export async function persistBatch(pool: Pool, orders: readonly OrderMessage[], prepared?: PreparedBatch): Promise<PersistResult> {
  if (orders.length === 0) return { decisions: [], redelivered: 0, checked: false };
  try {
    return await inTransaction(pool, (c) => attempt(c, orders, false, prepared));
  } catch (err) {
    if (!(err instanceof InsertConflictError)) throw err;
  }
  // Still conflicting in checked mode means a concurrent writer (a zombie consumer): the caller retries.
  return inTransaction(pool, (c) => attempt(c, orders, true));
}

/** One result for the slices of a batch persisted separately (bisect.ts), in order. */
export function mergeResults(parts: readonly PersistResult[]): PersistResult {
  if (parts.length === 1) return parts[0]!; // the whole batch in one transaction: no copy of its decisions
  return {
    decisions: parts.flatMap((r) => r.decisions),
    redelivered: parts.reduce((n, r) => n + r.redelivered, 0),
    checked: parts.some((r) => r.checked),
  };
}
