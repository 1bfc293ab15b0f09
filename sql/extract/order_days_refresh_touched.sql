-- Roll up again every order of the customers touched since the last refresh (an incremental refresh).
-- Placeholders: orders, customer_id, ordered_at, amount (its columns), purchase_day (the day expression).
-- In key order: the rows reach the primary key's pages one after another, not at random.
INSERT INTO segmentation_work.order_days (customer_id, purchase_day, amount, orders)
SELECT o.{customer_id}, {purchase_day}, sum(o.{amount}), count(*)::integer
FROM {orders} AS o
JOIN touched_customers AS t ON t.customer_id = o.{customer_id}
WHERE o.{ordered_at} IS NOT NULL AND o.{amount} IS NOT NULL
GROUP BY 1, 2
ORDER BY 1, 2;
