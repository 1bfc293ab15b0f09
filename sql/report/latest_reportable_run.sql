-- The latest run that succeeded and published customers (NULL if none has): the default run to report.
-- No parameters.
SELECT max(run_id)
FROM segmentation.pipeline_runs
WHERE status = 'succeeded' AND rows_published > 0
