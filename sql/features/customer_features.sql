-- customer_features: one row per modelled customer of the current run, every feature of the catalog
-- (tasks/recipes.py FEATURE_CATALOG) defined once, here. Parameters:
--   as_of, snapshot_date         recency is shifted by the days between the source snapshot and as_of
--   tenure_reference_date        tenure counts days from enrolment to this date (default as_of)
--   age_reference_year           age = this year - birth year (default: the year of as_of)
--   run_id                       customers quarantined by this run are left out
SELECT
    e.customer_id,
    (e.recency_days + (%(as_of)s::date - %(snapshot_date)s::date))::double precision          AS recency_days,
    (e.purchases_deals + e.purchases_web + e.purchases_catalog + e.purchases_store)::double precision AS frequency,
    (e.spend_wines + e.spend_fruits + e.spend_meat + e.spend_fish + e.spend_sweets + e.spend_gold)::double precision
                                                                                              AS monetary,
    (%(tenure_reference_date)s::date - e.enrolled_on)::double precision                        AS tenure_days,
    (e.accepted_cmp1 + e.accepted_cmp2 + e.accepted_cmp3 + e.accepted_cmp4 + e.accepted_cmp5 + e.response)::double precision
                                                                                              AS campaign_acceptances,
    (%(age_reference_year)s::integer - e.birth_year)::double precision                         AS age,
    e.income::double precision                                                                AS income,
    (e.kids_home + e.teens_home)::double precision                                            AS children_home,
    e.web_visits_month::double precision                                                      AS web_visits_month,
    -- Zero visits: conversion is defined as 0, never a division by zero.
    CASE WHEN e.web_visits_month > 0
         THEN (e.purchases_deals + e.purchases_web + e.purchases_catalog + e.purchases_store)::double precision
              / e.web_visits_month
         ELSE 0 END                                                                           AS conversion_rate,
    CASE WHEN (e.purchases_deals + e.purchases_web + e.purchases_catalog + e.purchases_store) > 0
         THEN (e.spend_wines + e.spend_fruits + e.spend_meat + e.spend_fish + e.spend_sweets + e.spend_gold)::double precision
              / (e.purchases_deals + e.purchases_web + e.purchases_catalog + e.purchases_store)
         ELSE 0 END                                                                           AS spend_per_purchase,
    e.response::smallint                                                                      AS response
FROM segmentation_work.customers_extract AS e
WHERE NOT EXISTS (SELECT 1 FROM segmentation.quarantined_customers AS q
                  WHERE q.run_id = %(run_id)s AND q.customer_id = e.customer_id)
ORDER BY e.customer_id
