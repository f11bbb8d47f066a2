// Every SQL statement about products lives here (the API's /init and unknown-sale lookups, the
// operator's reconcile). Orders SQL is in orders.ts and the worker.
import type { Pool } from 'pg';

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

type Queryable = Pick<Pool, 'query'>;

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

export async function getProduct(db: Queryable, id: string): Promise<Product | null> {
  const { rows } = await db.query<Row>(`SELECT ${COLUMNS} FROM products WHERE id = $1`, [id]);
  return rows[0] ? toProduct(rows[0]) : null;
}

export async function productExists(db: Queryable, id: string): Promise<boolean> {
  const { rowCount } = await db.query('SELECT 1 FROM products WHERE id = $1', [id]);
  return (rowCount ?? 0) > 0;
}
