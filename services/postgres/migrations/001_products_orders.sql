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

-- Orders: one row per accepted order id. UNIQUE (product_id, idempotency_key) keeps the first
-- order when a retry after a Redis loss reserved a second time; that second order is stored
-- as 'rejected' with reason 'duplicate' by the worker.
CREATE TABLE IF NOT EXISTS orders (
  id               uuid PRIMARY KEY,
  product_id       text NOT NULL REFERENCES products (id),
  user_id          text NOT NULL,
  idempotency_key  text NOT NULL,
  quantity         integer NOT NULL CHECK (quantity > 0),
  status           text NOT NULL CHECK (status IN ('confirmed', 'rejected')),
  reject_reason    text,
  epoch            bigint NOT NULL DEFAULT 0,
  accepted_at      timestamptz NOT NULL,
  created_at       timestamptz NOT NULL DEFAULT now(),
  duplicate_of     uuid
);

-- Only non-rejected orders claim the idempotency key, so a duplicate can still be recorded as rejected.
CREATE UNIQUE INDEX IF NOT EXISTS orders_product_idempotency_uq
  ON orders (product_id, idempotency_key) WHERE status = 'confirmed';
CREATE INDEX IF NOT EXISTS orders_product_status_idx ON orders (product_id, status);
