// Order reads for the API (GET /order/:orderId). PostgreSQL is the truth; an id it does not hold
// yet is the caller's business (pending if Kafka accepted it).
import type { Pool } from 'pg';

export type StoredOrderStatus =
  | { status: 'confirmed'; orderId: string; productId: string; quantity: number }
  | {
      status: 'rejected';
      orderId: string;
      productId: string;
      quantity: number;
      reason: 'out_of_stock' | 'duplicate' | 'unknown_product';
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
    reject_reason: 'out_of_stock' | 'duplicate' | 'unknown_product' | null;
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
