-- Roll up every order of the orders table per customer and purchase day (full refresh).
-- Placeholders: orders (the table), customer_id, amount (its columns), purchase_day (the day expression).
-- In key order (grouped by a sort): the primary key built afterwards then finds the table in its order.
INSERT INTO segmentation_work.order_days (customer_id, purchase_day, amount, orders)
SELECT o.{customer_id}, {purchase_day}, sum(o.{amount}), count(*)::integer
FROM {orders} AS o
WHERE o.{customer_id} IS NOT NULL AND o.{ordered_at} IS NOT NULL AND o.{amount} IS NOT NULL
GROUP BY 1, 2
ORDER BY 1, 2;
