// The operator's view of the products row (the truth): reads it for the model and applies the
// model's PostgreSQL actions. The SQL is core/postgres/products.ts's; this only translates types.
import { confirmedKeyHolders, confirmedUnitsByUser } from '../../core/postgres/orders.js';
import type { Pool } from '../../core/postgres/pool.js';
import { ensureProduct, lowerStock, raiseStock, readProduct } from '../../core/postgres/products.js';
import type { ProductRow } from '../model/types.js';

export { StockChangeRefused } from '../../core/postgres/products.js';

const toDate = (iso: string | null) => (iso ? new Date(iso) : null);

export class Products {
  constructor(private readonly pool: Pool) {}

  async read(productId: string): Promise<ProductRow | null> {
    const p = await readProduct(this.pool, productId);
    if (!p) return null;
    const { id: _id, ...row } = p;
    return { ...row, startsAt: p.startsAt?.toISOString() ?? null, endsAt: p.endsAt?.toISOString() ?? null };
  }

  /** Creates the row with the allocation, or updates only its settings (never the stock). */
  async ensure(p: { productId: string; allocation: number; perUserLimit: number | null; rateLimitPerSecond: number | null; startsAt: string | null; endsAt: string | null }): Promise<void> {
    await ensureProduct(this.pool, p.productId, p.allocation, {
      perUserLimit: p.perUserLimit,
      rateLimitPerSecond: p.rateLimitPerSecond,
      startsAt: toDate(p.startsAt),
      endsAt: toDate(p.endsAt),
    });
  }

  /** Adds (to − from) once. Returns false when the allocation is no longer `from` (already applied). */
  raise(productId: string, from: number, to: number): Promise<boolean> {
    return raiseStock(this.pool, productId, from, to);
  }

  /** Removes (from − to) once, only if that many units are unsold. Call with the orders topic drained. */
  lower(productId: string, from: number, to: number): Promise<boolean> {
    return lowerStock(this.pool, productId, from, to);
  }

  /** Confirmed units per user of the sale (rebuilds Redis's per-user counters on a seed). */
  userUnits(productId: string): Promise<Map<string, number>> {
    return confirmedUnitsByUser(this.pool, productId);
  }

  /** The confirmed order of each idempotency key of the sale (rebuilds Redis's idempotency records on a seed). */
  keyHolders(productId: string): ReturnType<typeof confirmedKeyHolders> {
    return confirmedKeyHolders(this.pool, productId);
  }
}
