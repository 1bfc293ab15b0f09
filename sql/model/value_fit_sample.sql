-- The customers the value models are fitted on, in BG/NBD's terms (days): repeat purchase days x, days
-- from the first to the last purchase day t_x, age T and the mean repeat spend. Parameters: percent, seed.
SELECT (r.purchase_days - 1)::float8 AS frequency, (r.tenure_days - r.recency_days)::float8 AS recency,
       r.tenure_days::float8 AS age, r.repeat_monetary_mean::float8 AS monetary
FROM segmentation_work.customer_rfm AS r TABLESAMPLE BERNOULLI (%(percent)s) REPEATABLE (%(seed)s)
WHERE NOT EXISTS (SELECT 1 FROM segmentation_restricted.quarantined_customers AS q
                  WHERE q.run_id = %(run_id)s AND q.customer_id = r.customer_id)
