-- Sum the staged rows once into segmentation_work.staged_totals, for the audit (sql/publish/audit.sql) and
-- the segments' profiles (sql/publish/segment_profiles.sql). No parameters.

-- One row per group of what the audit compares (a handful: segment, name, tier, run, model), with the
-- customers, those with a NaN or infinite feature, and per profiled feature its sum and the customers it is
-- known for (means divide by those, as avg() does). One scan of ten million staged rows instead of two; it
-- runs beside the builds of the partitions' primary keys (tasks/publish/write_audit_publish.py audit). A
-- work table, replaced by each audit and dropped by the next staging or the publish.
DROP TABLE IF EXISTS segmentation_work.staged_totals;
CREATE UNLOGGED TABLE segmentation_work.staged_totals WITH (autovacuum_enabled = false) AS
SELECT s.run_id, s.model_version, s.segment_id, s.segment_name, s.tier, count(*) AS customers,
       count(*) FILTER (WHERE 'NaN'::float8 IN (s.recency_days, s.frequency, s.monetary, s.tenure_days)
                        OR 'Infinity'::float8 IN (s.recency_days, s.frequency, s.monetary, s.tenure_days,
                                                  s.conversion_rate, s.spend_per_purchase)) AS non_finite,
       sum(s.recency_days) AS recency_days, count(s.recency_days) AS customers_with_recency,
       sum(s.frequency) AS frequency, count(s.frequency) AS customers_with_frequency,
       sum(s.monetary) AS monetary, count(s.monetary) AS customers_with_monetary,
       sum(s.tenure_days) AS tenure_days, count(s.tenure_days) AS customers_with_tenure,
       sum(s.campaign_acceptances) AS campaign_acceptances,
       count(s.campaign_acceptances) AS customers_with_acceptances,
       sum(s.income) AS income, count(s.income) AS customers_with_income,
       sum(s.age) AS age, count(s.age) AS customers_with_age,
       sum(s.response) AS responses, count(s.response) AS customers_with_response,
       sum(s.conversion_rate) FILTER (WHERE s.web_visits_month > 0) AS conversion_rate,
       count(s.conversion_rate) FILTER (WHERE s.web_visits_month > 0) AS customers_with_visits,
       sum(s.expected_value_365d) AS expected_value_365d
FROM segmentation_work.customer_segments_staging AS s
GROUP BY s.run_id, s.model_version, s.segment_id, s.segment_name, s.tier;
