-- Audit of the staged assignments before publish: one row per check, ok = true when it holds.
-- Parameters: run_id, model_version, expected_rows (customers that reached the model).
WITH staged AS (SELECT * FROM segmentation_work.customer_segments_staging),
     sizes AS (SELECT segment_id, count(*) AS customers FROM staged GROUP BY segment_id)
SELECT 'row count matches the modelled customers' AS check_name,
       (SELECT count(*) FROM staged) = %(expected_rows)s AS ok,
       format('staged %%s, expected %%s', (SELECT count(*) FROM staged), %(expected_rows)s) AS detail
UNION ALL
SELECT 'every customer assigned exactly once',
       (SELECT count(DISTINCT customer_id) FROM staged) = (SELECT count(*) FROM staged),
       format('%%s rows, %%s distinct customers', (SELECT count(*) FROM staged),
              (SELECT count(DISTINCT customer_id) FROM staged))
UNION ALL
SELECT 'every row belongs to this run and model',
       NOT EXISTS (SELECT 1 FROM staged WHERE run_id <> %(run_id)s OR model_version <> %(model_version)s),
       'run_id and model_version of the staged rows'
UNION ALL
SELECT 'segments and tiers are the model''s',
       NOT EXISTS (SELECT 1 FROM staged s
                   LEFT JOIN segmentation.model_segments m
                          ON m.model_version = s.model_version AND m.segment_id = s.segment_id
                         AND m.segment_name = s.segment_name AND m.tier = s.tier
                   WHERE m.segment_id IS NULL),
       'each staged (segment_id, segment_name, tier) exists in segmentation.model_segments'
UNION ALL
SELECT 'no segment holds more than 95%% of customers',
       coalesce((SELECT max(customers) FROM sizes) <= 0.95 * (SELECT count(*) FROM staged)
                OR (SELECT count(*) FROM staged) < 20, true),
       format('largest segment %%s of %%s', (SELECT max(customers) FROM sizes), (SELECT count(*) FROM staged))
UNION ALL
SELECT 'feature values are finite',
       NOT EXISTS (SELECT 1 FROM staged WHERE 'NaN'::float8 IN (recency_days, frequency, monetary, tenure_days)
                   OR 'Infinity'::float8 IN (recency_days, frequency, monetary, tenure_days, conversion_rate,
                                             spend_per_purchase)),
       'no NaN or infinite feature values';
