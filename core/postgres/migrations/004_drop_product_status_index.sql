-- orders (product_id, status) was written on every insert (a quarter of the index work of the
-- worker's hot path, ~15 % of its PostgreSQL CPU per order) and served no query of ours: the
-- confirmed orders of a sale are read through orders_product_user_confirmed_idx (product_id first,
-- WHERE status = 'confirmed'), single orders by id, idempotency keys through the unique index.
DROP INDEX IF EXISTS orders_product_status_idx;
