-- Per segment of a run's published customers: mean spend per product category and purchases per channel.
-- Category and channel columns are not published: they come from `detail`, one row per customer with
-- those columns (tasks/report/insights.py read_mix says which). Fragment: detail. Parameter: run_id.
SELECT c.segment_id,
       count(*) AS customers,
       count(d.customer_id) AS customers_with_detail,
       avg(d.spend_wines) AS spend_wines, avg(d.spend_fruits) AS spend_fruits, avg(d.spend_meat) AS spend_meat,
       avg(d.spend_fish) AS spend_fish, avg(d.spend_sweets) AS spend_sweets, avg(d.spend_gold) AS spend_gold,
       sum(d.purchases_web) AS purchases_web, sum(d.purchases_catalog) AS purchases_catalog,
       sum(d.purchases_store) AS purchases_store, sum(d.purchases_deals) AS purchases_deals
FROM segmentation.customer_segments AS c
LEFT JOIN {detail} AS d ON d.customer_id = c.customer_id
WHERE c.run_id = %(run_id)s
GROUP BY c.segment_id
ORDER BY c.segment_id;
