-- Per segment of a run's published customers: mean spend per product category and purchases per channel.
-- Category and channel columns are not published. While the run's extract is its own snapshot
-- (detail_from_extract: no run has started since), they come from it; the run's source contract made its
-- customer ids unique. Otherwise a later run may have replaced the extract, so they come from
-- source.customers (one row per customer, whatever it holds). Parameters: run_id, detail_from_extract.
WITH run_customers AS (
    SELECT c.customer_id, c.segment_id FROM segmentation.customer_segments AS c WHERE c.run_id = %(run_id)s
)
SELECT r.segment_id,
       count(*) AS customers,
       count(d.customer_id) AS customers_with_detail,
       avg(d.spend_wines) AS spend_wines, avg(d.spend_fruits) AS spend_fruits, avg(d.spend_meat) AS spend_meat,
       avg(d.spend_fish) AS spend_fish, avg(d.spend_sweets) AS spend_sweets, avg(d.spend_gold) AS spend_gold,
       sum(d.purchases_web) AS purchases_web, sum(d.purchases_catalog) AS purchases_catalog,
       sum(d.purchases_store) AS purchases_store, sum(d.purchases_deals) AS purchases_deals
FROM run_customers AS r
LEFT JOIN segmentation_work.customers_extract AS e
       ON %(detail_from_extract)s AND e.customer_id = r.customer_id
LEFT JOIN (
    SELECT DISTINCT ON (s.customer_id) s.customer_id, s.spend_wines, s.spend_fruits, s.spend_meat, s.spend_fish,
           s.spend_sweets, s.spend_gold, s.purchases_web, s.purchases_catalog, s.purchases_store, s.purchases_deals
    FROM source.customers AS s
    WHERE NOT %(detail_from_extract)s
    ORDER BY s.customer_id
) AS s ON s.customer_id = r.customer_id
CROSS JOIN LATERAL (
    -- One of the two joined rows, the other is NULL.
    SELECT coalesce(e.customer_id, s.customer_id) AS customer_id,
           coalesce(e.spend_wines, s.spend_wines) AS spend_wines,
           coalesce(e.spend_fruits, s.spend_fruits) AS spend_fruits,
           coalesce(e.spend_meat, s.spend_meat) AS spend_meat,
           coalesce(e.spend_fish, s.spend_fish) AS spend_fish,
           coalesce(e.spend_sweets, s.spend_sweets) AS spend_sweets,
           coalesce(e.spend_gold, s.spend_gold) AS spend_gold,
           coalesce(e.purchases_web, s.purchases_web) AS purchases_web,
           coalesce(e.purchases_catalog, s.purchases_catalog) AS purchases_catalog,
           coalesce(e.purchases_store, s.purchases_store) AS purchases_store,
           coalesce(e.purchases_deals, s.purchases_deals) AS purchases_deals
) AS d
GROUP BY r.segment_id
ORDER BY r.segment_id;
