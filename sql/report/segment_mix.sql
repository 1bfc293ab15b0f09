-- Per segment of a run's published customers: mean spend per product category and purchases per channel.
-- Category and channel columns are not published; they come from the run's extract (the snapshot the run
-- segmented) or, for customers no longer in it, from source.customers. Parameter: run_id.
WITH run_customers AS (
    SELECT c.customer_id, c.segment_id FROM segmentation.customer_segments AS c WHERE c.run_id = %(run_id)s
), detail AS (
    SELECT DISTINCT ON (d.customer_id) d.*
    FROM (SELECT e.customer_id, e.spend_wines, e.spend_fruits, e.spend_meat, e.spend_fish, e.spend_sweets,
                 e.spend_gold, e.purchases_web, e.purchases_catalog, e.purchases_store, e.purchases_deals,
                 1 AS preference
          FROM segmentation_work.customers_extract AS e
          UNION ALL
          SELECT s.customer_id, s.spend_wines, s.spend_fruits, s.spend_meat, s.spend_fish, s.spend_sweets,
                 s.spend_gold, s.purchases_web, s.purchases_catalog, s.purchases_store, s.purchases_deals, 2
          FROM source.customers AS s) AS d
    WHERE d.customer_id IN (SELECT customer_id FROM run_customers)
    ORDER BY d.customer_id, d.preference
)
SELECT c.segment_id,
       count(*) AS customers,
       count(r.customer_id) AS customers_with_detail,
       avg(r.spend_wines) AS spend_wines, avg(r.spend_fruits) AS spend_fruits, avg(r.spend_meat) AS spend_meat,
       avg(r.spend_fish) AS spend_fish, avg(r.spend_sweets) AS spend_sweets, avg(r.spend_gold) AS spend_gold,
       sum(r.purchases_web) AS purchases_web, sum(r.purchases_catalog) AS purchases_catalog,
       sum(r.purchases_store) AS purchases_store, sum(r.purchases_deals) AS purchases_deals
FROM run_customers AS c
LEFT JOIN detail AS r USING (customer_id)
GROUP BY c.segment_id
ORDER BY c.segment_id;
