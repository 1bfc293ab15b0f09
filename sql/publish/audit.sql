-- Audit of the staged assignments before publish: one row per check (check_name, ok, detail), ok when it
-- holds, from the staged rows' totals (segmentation_work.staged_totals, sql/publish/staged_totals.sql).
-- Parameters: run_id, model_version, expected_rows (customers that reached the model).

-- Uniqueness is the primary key of each staging partition (they hold disjoint ranges of ids), which the
-- audit builds beside the totals' scan and reports second (tasks/publish/write_audit_publish.py).
WITH staged_groups AS (
    SELECT segment_id, segment_name, tier, run_id, model_version, customers, non_finite
    FROM segmentation_work.staged_totals
),
totals AS (
    SELECT coalesce(sum(customers), 0) AS staged, coalesce(sum(non_finite), 0) AS non_finite,
           (SELECT max(customers) FROM (SELECT sum(customers) AS customers FROM staged_groups
                                        GROUP BY segment_id) AS sizes) AS largest
    FROM staged_groups
)
SELECT 'row count matches the modelled customers' AS check_name,
       staged = %(expected_rows)s AS ok,
       format('staged %%s, expected %%s', staged, %(expected_rows)s) AS detail
FROM totals
UNION ALL
SELECT 'every row belongs to this run and model',
       NOT EXISTS (SELECT 1 FROM staged_groups WHERE run_id <> %(run_id)s OR model_version <> %(model_version)s),
       'run_id and model_version of the staged rows'
UNION ALL
SELECT 'segments and tiers are the model''s',
       NOT EXISTS (SELECT 1 FROM staged_groups s
                   LEFT JOIN segmentation.model_segments m
                          ON m.model_version = s.model_version AND m.segment_id = s.segment_id
                         AND m.segment_name = s.segment_name AND m.tier = s.tier
                   WHERE m.segment_id IS NULL),
       'each staged (segment_id, segment_name, tier) exists in segmentation.model_segments'
UNION ALL
SELECT 'no segment holds more than 95%% of customers',
       coalesce(largest <= 0.95 * staged OR staged < 20, true),
       format('largest segment %%s of %%s', largest, staged)
FROM totals
UNION ALL
SELECT 'feature values are finite', non_finite = 0, format('%%s rows with NaN or infinite feature values', non_finite)
FROM totals;
