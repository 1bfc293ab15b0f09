-- Per segment of an orders run's published customers: spend by product category and orders by channel, from
-- source.orders up to the run's as_of (days in the rollup's business time zone); the run keeps no mapping, so a
-- mapped orders table is not read. Beyond the top categories or channels by total, the rest is one 'other'.
-- Parameters: run_id, as_of, top.
WITH zone AS (
    SELECT coalesce((SELECT s.business_timezone FROM segmentation_work.order_rollup_state AS s
                     WHERE s.source_table = 'source.orders'), 'UTC') AS name
), run_orders AS (
    SELECT c.segment_id, o.category, o.channel, o.amount
    FROM segmentation.customer_segments AS c
    JOIN source.orders AS o USING (customer_id)
    WHERE c.run_id = %(run_id)s
      AND (o.ordered_at AT TIME ZONE (SELECT z.name FROM zone AS z))::date <= %(as_of)s
), by_value AS (
    SELECT 'category' AS dimension, r.segment_id, r.category AS value, sum(r.amount) AS measure
    FROM run_orders AS r WHERE r.category IS NOT NULL GROUP BY r.segment_id, r.category
    UNION ALL
    SELECT 'channel', r.segment_id, r.channel, count(*)
    FROM run_orders AS r WHERE r.channel IS NOT NULL GROUP BY r.segment_id, r.channel
), ranked AS (
    SELECT t.dimension, t.value, row_number() OVER (PARTITION BY t.dimension ORDER BY t.total DESC, t.value) AS place
    FROM (SELECT b.dimension, b.value, sum(b.measure) AS total FROM by_value AS b
          GROUP BY b.dimension, b.value) AS t
), grouped AS (
    SELECT b.dimension, b.segment_id,
           CASE WHEN k.place <= %(top)s THEN b.value ELSE 'other' END AS value,
           min(k.place) AS place, sum(b.measure) AS measure
    FROM by_value AS b
    JOIN ranked AS k USING (dimension, value)
    GROUP BY 1, 2, 3
)
SELECT g.dimension, g.segment_id, g.value, g.place, g.measure,
       g.measure / nullif(sum(g.measure) OVER (PARTITION BY g.dimension, g.segment_id), 0) AS share
FROM grouped AS g
ORDER BY g.dimension, g.segment_id, g.place;
