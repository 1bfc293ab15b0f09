-- Roll up every order of the orders table per customer and purchase day (full refresh).
-- Parameters: timezone, earliest_order, max_amount.
-- Placeholders: orders (the table), customer_id, amount (its columns), purchase_day (the day expression).
-- In key order (grouped by a sort): the primary key built afterwards then finds the table in its order.
INSERT INTO segmentation_work.order_days (customer_id, purchase_day, amount, orders)
SELECT o.{customer_id}, {purchase_day}, sum(o.{amount}), count(*)::integer
FROM {orders} AS o
WHERE o.{customer_id} IS NOT NULL AND o.{ordered_at} IS NOT NULL AND o.{amount} IS NOT NULL
  -- Rows breaking a row-level check are quarantined instead (sql/extract/quarantine_orders_*.sql).
  AND o.{ordered_at} >= %(earliest_order)s AND abs(o.{amount}) <= %(max_amount)s
GROUP BY 1, 2
ORDER BY 1, 2;
