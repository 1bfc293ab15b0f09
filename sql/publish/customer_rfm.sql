-- Publish the run's RFM summary (every customer with orders up to the run's as_of day) with its segments.
-- Parameter: run_id.
INSERT INTO segmentation.customer_rfm
    (customer_id, run_id, as_of, first_purchase_on, last_purchase_on, purchase_days, recency_days, tenure_days,
     monetary_total, monetary_mean, repeat_monetary_mean)
SELECT r.customer_id, %(run_id)s, p.as_of, r.first_purchase_on, r.last_purchase_on, r.purchase_days,
       r.recency_days, r.tenure_days, r.monetary_total, r.monetary_mean, r.repeat_monetary_mean
FROM segmentation_work.customer_rfm AS r
CROSS JOIN (SELECT as_of FROM segmentation.pipeline_runs WHERE run_id = %(run_id)s) AS p;
