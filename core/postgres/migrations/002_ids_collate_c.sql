-- Product ids, user ids and idempotency keys are opaque ASCII identifiers: compare them bytewise.
-- On a database created with a linguistic collation (en_US.UTF-8, the default of many images)
-- every index comparison would otherwise go through strcoll(), several times slower on the
-- worker's insert path, for an ordering nobody needs. Rebuilds the affected indexes.
ALTER TABLE products ALTER COLUMN id TYPE text COLLATE "C";
ALTER TABLE orders
  ALTER COLUMN product_id TYPE text COLLATE "C",
  ALTER COLUMN user_id TYPE text COLLATE "C",
  ALTER COLUMN idempotency_key TYPE text COLLATE "C";
