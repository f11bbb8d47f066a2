-- The per-user limit is enforced by PostgreSQL too, not only by Redis (whose counters a FLUSHALL,
-- a restart or a failover resets): the worker stores an order that would take a user past the
-- sale's products.per_user_limit (units) as rejected 'over_user_limit'.
ALTER TABLE orders DROP CONSTRAINT IF EXISTS orders_reject_reason_check;
ALTER TABLE orders ADD CONSTRAINT orders_reject_reason_check
  CHECK (reject_reason IN ('out_of_stock', 'duplicate', 'unknown_product', 'over_user_limit'));
-- Units each user holds per sale: read by the worker for the users of a batch, and by a reseed to
-- rebuild Redis's per-user counters.
CREATE INDEX IF NOT EXISTS orders_product_user_confirmed_idx
  ON orders (product_id, user_id) INCLUDE (quantity) WHERE status = 'confirmed';
