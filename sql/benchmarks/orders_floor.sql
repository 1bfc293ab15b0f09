-- The orders benchmark's floor: the bare per-customer-per-day GROUP BY of the rollup's aggregates into an
-- unlogged table, the least a full build of segmentation_work.order_days must do. Parameter: timezone.
CREATE UNLOGGED TABLE benchmark.orders_floor AS
SELECT o.customer_id, (o.ordered_at AT TIME ZONE %(timezone)s)::date AS purchase_day, sum(o.amount) AS amount,
       count(*) AS orders
FROM source.orders AS o
GROUP BY 1, 2
