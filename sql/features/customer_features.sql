-- One part of segmentation_work.customer_features: a new table, named by the placeholder part, of the features
-- of one range of the extract's rows. Parameters: as_of, snapshot_date, tenure_reference_date,
-- age_reference_year, run_id, first_row, end_row.

-- One row per modelled customer of the current run, every feature of the catalog (tasks/features/recipes.py
-- FEATURE_CATALOG) defined once, here:
--   as_of, snapshot_date         recency is shifted by the days between the source snapshot and as_of
--   tenure_reference_date        tenure counts days from enrolment to this date (default as_of)
--   age_reference_year           age = this year - birth year (default: the year of as_of)
--   run_id                       customers quarantined by this run are left out
--   first_row, end_row           the extract's rows this statement computes: a range of row addresses
--                                (tasks/db/sql.py page_ranges), so that several connections share the work
-- Rows come in the extract's order; readers that need customer id order ask for it. CREATE TABLE AS is
-- PostgreSQL's bulk write path (faster than INSERT ... SELECT); unlogged and without autovacuum, as the
-- next run replaces it (tasks/features/compute.py then makes the table inherit customer_features).
CREATE UNLOGGED TABLE {part} WITH (autovacuum_enabled = false) AS
SELECT
    e.customer_id,
    (e.recency_days + (%(as_of)s::date - %(snapshot_date)s::date))::double precision          AS recency_days,
    e.purchases::double precision                                                             AS frequency,
    e.spend                                                                                   AS monetary,
    (%(tenure_reference_date)s::date - e.enrolled_on)::double precision                        AS tenure_days,
    e.campaign_acceptances::double precision                                                  AS campaign_acceptances,
    (%(age_reference_year)s::integer - e.birth_year)::double precision                         AS age,
    e.income::double precision                                                                AS income,
    (e.kids_home + e.teens_home)::double precision                                            AS children_home,
    e.web_visits_month::double precision                                                      AS web_visits_month,
    -- Zero visits: conversion is defined as 0, never a division by zero.
    CASE WHEN e.web_visits_month > 0
         THEN e.purchases::double precision / e.web_visits_month
         ELSE 0 END                                                                           AS conversion_rate,
    CASE WHEN e.purchases > 0
         THEN e.spend / e.purchases
         ELSE 0 END                                                                           AS spend_per_purchase,
    e.response::smallint                                                                      AS response
FROM (
    -- Each total once per customer. Spend is the record's spend_total, the six numeric amounts' sum as a
    -- double, which the source keeps (sql/migrations/versions/0012_stored_spend_total.sql): adding and
    -- converting them here was much of this query's work. OFFSET 0 keeps this subquery from being merged
    -- into the outer one, which would compute purchases once per use.
    SELECT x.customer_id, x.recency_days, x.enrolled_on, x.birth_year, x.income, x.kids_home, x.teens_home,
           x.web_visits_month, x.response,
           x.purchases_deals + x.purchases_web + x.purchases_catalog + x.purchases_store AS purchases,
           x.spend_total AS spend,
           x.accepted_cmp1 + x.accepted_cmp2 + x.accepted_cmp3 + x.accepted_cmp4 + x.accepted_cmp5 + x.response
               AS campaign_acceptances
    FROM segmentation_work.customers_extract AS x
    WHERE NOT EXISTS (SELECT 1 FROM segmentation_restricted.quarantined_customers AS q
                      WHERE q.run_id = %(run_id)s AND q.customer_id = x.customer_id)
      AND x.ctid >= %(first_row)s::tid AND x.ctid < %(end_row)s::tid
    OFFSET 0
) AS e
