-- Every modelled customer of an orders run, in BG/NBD's terms (days), for the predictions.
-- Parameter: run_id.
SELECT r.customer_id, (r.purchase_days - 1)::float8 AS frequency,
       (r.tenure_days - r.recency_days)::float8 AS recency, r.tenure_days::float8 AS age,
       r.repeat_monetary_mean::float8 AS monetary
FROM segmentation_work.customer_rfm AS r
WHERE NOT EXISTS (SELECT 1 FROM segmentation_restricted.quarantined_customers AS q
                  WHERE q.run_id = %(run_id)s AND q.customer_id = r.customer_id)
