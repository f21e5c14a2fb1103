-- The order transaction Stockroom's POST /orders/ runs, as pgbench sees it: the user lookup
-- that authentication does, then lock the item row, take the stock, write the order and its
-- line, commit. Variables: :customer and :items come from the harness (-D).
\set n random(1, :items)
SELECT is_active FROM users WHERE id = :customer;
BEGIN;
SELECT id AS item_id, price_cents FROM items WHERE sku = 'BENCH-' || lpad(:n::text, 5, '0') ORDER BY id FOR UPDATE \gset
UPDATE items SET quantity = quantity - 1 WHERE id = :item_id;
INSERT INTO orders (customer_id, status, created_at, updated_at) VALUES (:customer, :status, now(), now()) RETURNING id AS order_id \gset
INSERT INTO order_lines (order_id, item_id, sku, quantity, unit_price_cents) VALUES (:order_id, :item_id, 'BENCH-' || lpad(:n::text, 5, '0'), 1, :price_cents);
COMMIT;
