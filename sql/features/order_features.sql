-- One part of segmentation_work.customer_features from orders: a new table, named by the placeholder part,
-- of the features of one range of the RFM summary's rows. Parameters: run_id, first_row, end_row.

-- The same columns as the customer-profile features (sql/features/customer_features.sql), so that scoring,
-- publishing and profiles read either: those of the purchase days from the RFM summary
-- (segmentation_work.customer_rfm), the others unknown (NULL). frequency is purchase days; monetary the net
-- spend; spend_per_purchase the spend per purchase day (the average order value of a day).
CREATE UNLOGGED TABLE {part} WITH (autovacuum_enabled = false) AS
SELECT
    r.customer_id,
    r.recency_days::double precision        AS recency_days,
    r.purchase_days::double precision       AS frequency,
    r.monetary_total::double precision      AS monetary,
    r.tenure_days::double precision         AS tenure_days,
    NULL::double precision                  AS campaign_acceptances,
    NULL::double precision                  AS age,
    NULL::double precision                  AS income,
    NULL::double precision                  AS children_home,
    NULL::double precision                  AS web_visits_month,
    NULL::double precision                  AS conversion_rate,
    r.monetary_mean::double precision       AS spend_per_purchase,
    NULL::smallint                          AS response
FROM segmentation_work.customer_rfm AS r
WHERE NOT EXISTS (SELECT 1 FROM segmentation_restricted.quarantined_customers AS q
                  WHERE q.run_id = %(run_id)s AND q.customer_id = r.customer_id)
  AND r.ctid >= %(first_row)s::tid AND r.ctid < %(end_row)s::tid
