-- Roll up again every order of the customers touched since the last refresh (an incremental refresh).
-- Parameters: timezone, earliest_order, max_amount.
-- Placeholders: orders, customer_id, ordered_at, amount (its columns), purchase_day (the day expression).
-- In key order: the rows reach the primary key's pages one after another, not at random.
INSERT INTO segmentation_work.order_days (customer_id, purchase_day, amount, orders)
SELECT o.{customer_id}, {purchase_day}, sum(o.{amount}), count(*)::integer
FROM {orders} AS o
JOIN touched_customers AS t ON t.customer_id = o.{customer_id}
WHERE o.{ordered_at} IS NOT NULL AND o.{amount} IS NOT NULL
  -- Rows breaking a row-level check are quarantined instead (sql/extract/quarantine_orders_*.sql).
  AND o.{ordered_at} >= %(earliest_order)s AND abs(o.{amount}) <= %(max_amount)s
GROUP BY 1, 2
ORDER BY 1, 2;
