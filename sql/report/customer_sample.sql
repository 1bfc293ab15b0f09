-- A reproducible sample of a run's published customers (the same customers every time: ordered by a hash
-- of the id), with every published feature, for silhouettes and the PCA scatter. Parameters: run_id, size.
SELECT c.customer_id, c.segment_id, c.recency_days, c.frequency, c.monetary, c.tenure_days,
       c.campaign_acceptances, c.age, c.income, c.children_home, c.web_visits_month, c.conversion_rate,
       c.spend_per_purchase
FROM segmentation.customer_segments AS c
WHERE c.run_id = %(run_id)s
ORDER BY md5(c.customer_id::text)
LIMIT %(size)s;
