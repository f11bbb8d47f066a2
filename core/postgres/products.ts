// Every SQL statement on the products table lives here: the API's /init and unknown-sale lookups,
// the operator's reconcile (settings, restock, lowering) and the worker's lock-and-take-stock.
// Stock changes by the operator are single statements keyed on the allocation they start from, so
// a retry or a second operator replica can never apply one twice.
import pg, { type Pool, type QueryResult } from 'pg';

export interface Product {
  id: string;
  /** Units still sellable (the worker decrements it as it confirms orders). */
  stock: number;
  initialStock: number;
  perUserLimit: number | null;
  rateLimitPerSecond: number | null;
  startsAt: Date | null;
  endsAt: Date | null;
}

export interface ProductSpec {
  id: string;
  /** Sellable units from now on; also recorded as the initial stock. */
  stock: number;
  perUserLimit?: number | null;
  rateLimitPerSecond?: number | null;
  startsAt?: Date | null;
  endsAt?: Date | null;
}

/** The operator's settings of a sale (everything but the stock). */
export type ProductSettings = Pick<Product, 'perUserLimit' | 'rateLimitPerSecond' | 'startsAt' | 'endsAt'>;

type Queryable = Pick<Pool, 'query'>;

export class StockChangeRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StockChangeRefused';
  }
}

const COLUMNS = 'id, stock, initial_stock, per_user_limit, rate_limit_per_second, starts_at, ends_at';

interface Row {
  id: string;
  stock: number;
  initial_stock: number;
  per_user_limit: number | null;
  rate_limit_per_second: number | null;
  starts_at: Date | null;
  ends_at: Date | null;
}

function toProduct(r: Row): Product {
  return {
    id: r.id,
    stock: r.stock,
    initialStock: r.initial_stock,
    perUserLimit: r.per_user_limit,
    rateLimitPerSecond: r.rate_limit_per_second,
    startsAt: r.starts_at,
    endsAt: r.ends_at,
  };
}

/**
 * Creates the product or resets it: stock and initial stock become spec.stock, limits and window
 * are replaced (absent = none). Orders already stored are not touched. Returns the stored row.
 */
export async function upsertProduct(db: Queryable, spec: ProductSpec): Promise<Product> {
  const { rows } = await db.query<Row>(
    `INSERT INTO products (id, stock, initial_stock, per_user_limit, rate_limit_per_second, starts_at, ends_at)
     VALUES ($1, $2, $2, $3, $4, $5, $6)
     ON CONFLICT (id) DO UPDATE SET
       stock = EXCLUDED.stock, initial_stock = EXCLUDED.initial_stock,
       per_user_limit = EXCLUDED.per_user_limit, rate_limit_per_second = EXCLUDED.rate_limit_per_second,
       starts_at = EXCLUDED.starts_at, ends_at = EXCLUDED.ends_at, updated_at = now()
     RETURNING ${COLUMNS}`,
    [spec.id, spec.stock, spec.perUserLimit ?? null, spec.rateLimitPerSecond ?? null, spec.startsAt ?? null, spec.endsAt ?? null],
  );
  return toProduct(rows[0]!);
}

export async function readProduct(db: Queryable, id: string): Promise<Product | null> {
  const { rows } = await db.query<Row>(`SELECT ${COLUMNS} FROM products WHERE id = $1`, [id]);
  return rows[0] ? toProduct(rows[0]) : null;
}

export async function productExists(db: Queryable, id: string): Promise<boolean> {
  const { rowCount } = await db.query('SELECT 1 FROM products WHERE id = $1', [id]);
  return (rowCount ?? 0) > 0;
}

/** Creates the row with `allocation` as its stock, or updates only its settings (never the stock). */
export async function ensureProduct(db: Queryable, id: string, allocation: number, s: ProductSettings): Promise<void> {
  await db.query(
    `INSERT INTO products (id, stock, initial_stock, per_user_limit, rate_limit_per_second, starts_at, ends_at)
     VALUES ($1, $2, $2, $3, $4, $5, $6)
     ON CONFLICT (id) DO UPDATE SET
       per_user_limit = EXCLUDED.per_user_limit,
       rate_limit_per_second = EXCLUDED.rate_limit_per_second,
       starts_at = EXCLUDED.starts_at,
       ends_at = EXCLUDED.ends_at,
       updated_at = now()`,
    [id, allocation, s.perUserLimit, s.rateLimitPerSecond, s.startsAt, s.endsAt],
  );
}

/** Adds (to − from) once. Returns false when the allocation is no longer `from` (already applied). */
export async function raiseStock(db: Queryable, id: string, from: number, to: number): Promise<boolean> {
  if (to <= from) throw new RangeError(`raise needs to > from, got ${from} -> ${to}`);
  const r = await db.query(
    `UPDATE products SET stock = stock + ($3::int - initial_stock), initial_stock = $3, updated_at = now()
     WHERE id = $1 AND initial_stock = $2`,
    [id, from, to],
  );
  return r.rowCount === 1;
}

/** Removes (from − to) once, only if that many units are unsold. Call with the orders topic drained. */
export async function lowerStock(db: Queryable, id: string, from: number, to: number): Promise<boolean> {
  if (to >= from) throw new RangeError(`lower needs to < from, got ${from} -> ${to}`);
  const r = await db.query(
    `UPDATE products SET stock = stock - (initial_stock - $3::int), initial_stock = $3, updated_at = now()
     WHERE id = $1 AND initial_stock = $2 AND stock >= initial_stock - $3::int`,
    [id, from, to],
  );
  if (r.rowCount === 1) return true;
  const now = await readProduct(db, id);
  if (now && now.initialStock === from)
    throw new StockChangeRefused(`cannot lower ${id} from ${from} to ${to}: only ${now.stock} units are unsold`);
  return false;
}

/** What the worker needs of each product of a batch, read under FOR UPDATE (held until COMMIT). */
export interface LockedProduct {
  id: string;
  stock: number;
  perUserLimit: number | null;
}

/**
 * BEGIN, then lock the products of a batch FOR UPDATE in id order (no deadlock between concurrent
 * batches), in ONE round trip: a simple-protocol query of two statements (the ids inlined with pg's
 * escapeLiteral, since that protocol takes no parameters), one reply less on the partition's chain.
 * If the lock fails, the transaction is open and aborted (the caller rolls back).
 */
export async function beginAndLockProducts(db: Queryable, ids: readonly string[]): Promise<LockedProduct[]> {
  if (ids.length === 0) throw new Error('beginAndLockProducts: no product');
  const results = (await db.query(
    `BEGIN; SELECT id, stock, per_user_limit FROM products WHERE id IN (${ids.map((id) => pg.escapeLiteral(id)).join(', ')}) ORDER BY id FOR UPDATE`,
  )) as unknown as Array<QueryResult<{ id: string; stock: number; per_user_limit: number | null }>>;
  const locked = results[1];
  if (!Array.isArray(results) || !locked) throw new Error('beginAndLockProducts: expected the results of BEGIN and of the lock');
  return locked.rows.map((r) => ({ id: r.id, stock: r.stock, perUserLimit: r.per_user_limit }));
}

/**
 * The UPDATE that takes the confirmed units of a batch (one statement for all its products), as
 * text with its values inlined (escapeLiteral, integers checked), so it can also ride in the round
 * trip of the batch's COPY (orders.ts insertOrders). Undefined when nothing is taken.
 */
export function takeStockStatement(taken: ReadonlyMap<string, number>): string | undefined {
  if (taken.size === 0) return undefined;
  const values: string[] = [];
  for (const [id, units] of taken) {
    if (!Number.isSafeInteger(units) || units < 0) throw new Error(`takeStock: ${units} units of ${id} is not a count`);
    values.push(`(${pg.escapeLiteral(id)}, ${units})`);
  }
  return `UPDATE products p SET stock = p.stock - t.quantity, updated_at = now()
       FROM (VALUES ${values.join(', ')}) AS t(product_id, quantity) WHERE p.id = t.product_id`;
}

/** Takes the confirmed units of a batch (takeStockStatement). Returns how many products it updated. */
export async function takeStock(db: Queryable, taken: ReadonlyMap<string, number>): Promise<number> {
  const sql = takeStockStatement(taken);
  if (sql === undefined) return 0;
  const r = await db.query(sql);
  return r.rowCount ?? 0;
}
