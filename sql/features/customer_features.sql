-- customer_features: one row per modelled customer of the current run, every feature of the catalog
-- (tasks/recipes.py FEATURE_CATALOG) defined once, here. Parameters:
--   as_of, snapshot_date         recency is shifted by the days between the source snapshot and as_of
--   tenure_reference_date        tenure counts days from enrolment to this date (default as_of)
--   age_reference_year           age = this year - birth year (default: the year of as_of)
--   run_id                       customers quarantined by this run are left out
-- Rows come in the extract's order; readers that need customer id order ask for it (primary key).
SELECT
    e.customer_id,
    (e.recency_days + (%(as_of)s::date - %(snapshot_date)s::date))::double precision          AS recency_days,
    totals.purchases::double precision                                                        AS frequency,
    totals.spend::double precision                                                            AS monetary,
    (%(tenure_reference_date)s::date - e.enrolled_on)::double precision                        AS tenure_days,
    (e.accepted_cmp1 + e.accepted_cmp2 + e.accepted_cmp3 + e.accepted_cmp4 + e.accepted_cmp5 + e.response)::double precision
                                                                                              AS campaign_acceptances,
    (%(age_reference_year)s::integer - e.birth_year)::double precision                         AS age,
    e.income::double precision                                                                AS income,
    (e.kids_home + e.teens_home)::double precision                                            AS children_home,
    e.web_visits_month::double precision                                                      AS web_visits_month,
    -- Zero visits: conversion is defined as 0, never a division by zero.
    CASE WHEN e.web_visits_month > 0
         THEN totals.purchases::double precision / e.web_visits_month
         ELSE 0 END                                                                           AS conversion_rate,
    CASE WHEN totals.purchases > 0
         THEN totals.spend::double precision / totals.purchases
         ELSE 0 END                                                                           AS spend_per_purchase,
    e.response::smallint                                                                      AS response
FROM segmentation_work.customers_extract AS e
-- Each total once per customer (spend is numeric: exact money, but slower arithmetic than integers).
CROSS JOIN LATERAL (
    SELECT e.purchases_deals + e.purchases_web + e.purchases_catalog + e.purchases_store AS purchases,
           e.spend_wines + e.spend_fruits + e.spend_meat + e.spend_fish + e.spend_sweets + e.spend_gold AS spend
) AS totals
WHERE NOT EXISTS (SELECT 1 FROM segmentation.quarantined_customers AS q
                  WHERE q.run_id = %(run_id)s AND q.customer_id = e.customer_id)
