-- Products: stock is what is still sellable; initial_stock is the allocation (FlashSale spec.stock).
CREATE TABLE IF NOT EXISTS products (
  id                     text PRIMARY KEY,
  stock                  integer NOT NULL CHECK (stock >= 0),
  initial_stock          integer NOT NULL CHECK (initial_stock >= 0),
  per_user_limit         integer CHECK (per_user_limit IS NULL OR per_user_limit > 0),
  rate_limit_per_second  integer CHECK (rate_limit_per_second IS NULL OR rate_limit_per_second > 0),
  starts_at              timestamptz,
  ends_at                timestamptz,
  created_at             timestamptz NOT NULL DEFAULT now(),
  updated_at             timestamptz NOT NULL DEFAULT now(),
  CHECK (ends_at IS NULL OR starts_at IS NULL OR ends_at > starts_at)
);

-- Orders: one row per accepted order id (the worker writes them; nobody else does).
-- No foreign key to products on purpose: an order for a product PostgreSQL does not know is
-- stored as rejected 'unknown_product' so its orderId reads as rejected instead of pending forever.
CREATE TABLE IF NOT EXISTS orders (
  id               uuid PRIMARY KEY,
  product_id       text NOT NULL,
  user_id          text NOT NULL,
  idempotency_key  text NOT NULL,
  quantity         integer NOT NULL CHECK (quantity > 0),
  status           text NOT NULL CHECK (status IN ('confirmed', 'rejected')),
  reject_reason    text CHECK (reject_reason IN ('out_of_stock', 'duplicate', 'unknown_product')),
  -- for reject_reason 'duplicate': the order that holds the idempotency key
  duplicate_of     uuid,
  epoch            bigint NOT NULL DEFAULT 0,
  accepted_at      timestamptz NOT NULL,
  created_at       timestamptz NOT NULL DEFAULT now(),
  CHECK ((status = 'rejected') = (reject_reason IS NOT NULL)),
  CHECK ((reject_reason IS NOT DISTINCT FROM 'duplicate') = (duplicate_of IS NOT NULL))
);

-- UNIQUE (product_id, idempotency_key) over every order that is not itself a duplicate: the FIRST
-- order of a key keeps it whatever its fate (confirmed or rejected out of stock), and a second
-- order with the same key (a retry that reserved again after a Redis loss) can still be stored,
-- as rejected 'duplicate' pointing at the first, so its orderId never stays pending.
CREATE UNIQUE INDEX IF NOT EXISTS orders_product_idempotency_uq
  ON orders (product_id, idempotency_key) WHERE duplicate_of IS NULL;
CREATE INDEX IF NOT EXISTS orders_product_status_idx ON orders (product_id, status);
