-- A reproducible sample of a run's published customers, with every published feature, for the pictures
-- drawn from customers rather than totals: the box plots, silhouettes and the PCA scatter. Its cost does
-- not grow with the customers: TABLESAMPLE SYSTEM reads `percent` of the table's pages (the same pages of
-- the same table every time, REPEATABLE), chosen to hold more than `size` customers; of those, the first
-- `size` by a hash of the id. At 100 percent that is the first `size` of all the customers.
-- Parameters: run_id, percent, size.
SELECT c.customer_id, c.segment_id, c.recency_days, c.frequency, c.monetary, c.tenure_days,
       c.campaign_acceptances, c.age, c.income, c.children_home, c.web_visits_month, c.conversion_rate,
       c.spend_per_purchase
FROM segmentation.customer_segments AS c TABLESAMPLE SYSTEM (%(percent)s) REPEATABLE (0)
WHERE c.run_id = %(run_id)s
ORDER BY md5(c.customer_id::text)
LIMIT %(size)s;
