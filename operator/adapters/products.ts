// The products row in PostgreSQL (the truth). Stock changes are single statements keyed on the
// allocation they start from, so a retry or a second operator replica can never apply one twice.
import type { Pool } from '../../core/postgres/pool.js';
import type { ProductRow } from '../model/types.js';

export class StockChangeRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StockChangeRefused';
  }
}

export class Products {
  constructor(private readonly pool: Pool) {}

  async read(productId: string): Promise<ProductRow | null> {
    const { rows } = await this.pool.query<{
      stock: number; initial_stock: number; per_user_limit: number | null; rate_limit_per_second: number | null; starts_at: Date | null; ends_at: Date | null;
    }>(
      'SELECT stock, initial_stock, per_user_limit, rate_limit_per_second, starts_at, ends_at FROM products WHERE id = $1',
      [productId],
    );
    const r = rows[0];
    if (!r) return null;
    return {
      stock: r.stock,
      initialStock: r.initial_stock,
      perUserLimit: r.per_user_limit,
      rateLimitPerSecond: r.rate_limit_per_second,
      startsAt: r.starts_at ? r.starts_at.toISOString() : null,
      endsAt: r.ends_at ? r.ends_at.toISOString() : null,
    };
  }

  /** Creates the row with the allocation, or updates only its settings (never the stock). */
  async ensure(p: { productId: string; allocation: number; perUserLimit: number | null; rateLimitPerSecond: number | null; startsAt: string | null; endsAt: string | null }): Promise<void> {
    await this.pool.query(
      `INSERT INTO products (id, stock, initial_stock, per_user_limit, rate_limit_per_second, starts_at, ends_at)
       VALUES ($1, $2, $2, $3, $4, $5, $6)
       ON CONFLICT (id) DO UPDATE SET
         per_user_limit = EXCLUDED.per_user_limit,
         rate_limit_per_second = EXCLUDED.rate_limit_per_second,
         starts_at = EXCLUDED.starts_at,
         ends_at = EXCLUDED.ends_at,
         updated_at = now()`,
      [p.productId, p.allocation, p.perUserLimit, p.rateLimitPerSecond, p.startsAt, p.endsAt],
    );
  }

  /** Adds (to − from) once. Returns false when the allocation is no longer `from` (already applied). */
  async raise(productId: string, from: number, to: number): Promise<boolean> {
    if (to <= from) throw new RangeError(`raise needs to > from, got ${from} -> ${to}`);
    const r = await this.pool.query(
      `UPDATE products SET stock = stock + ($3::int - initial_stock), initial_stock = $3, updated_at = now()
       WHERE id = $1 AND initial_stock = $2`,
      [productId, from, to],
    );
    return r.rowCount === 1;
  }

  /** Removes (from − to) once, only if that many units are unsold. Call with the orders topic drained. */
  async lower(productId: string, from: number, to: number): Promise<boolean> {
    if (to >= from) throw new RangeError(`lower needs to < from, got ${from} -> ${to}`);
    const r = await this.pool.query(
      `UPDATE products SET stock = stock - (initial_stock - $3::int), initial_stock = $3, updated_at = now()
       WHERE id = $1 AND initial_stock = $2 AND stock >= initial_stock - $3::int`,
      [productId, from, to],
    );
    if (r.rowCount === 1) return true;
    const now = await this.read(productId);
    if (now && now.initialStock === from)
      throw new StockChangeRefused(`cannot lower ${productId} from ${from} to ${to}: only ${now.stock} units are unsold`);
    return false;
  }
}
