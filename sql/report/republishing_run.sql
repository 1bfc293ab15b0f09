-- The first run after a given one that succeeded and published customers (NULL if none): the run whose
-- customers replaced the given run's. Parameter: run_id.
SELECT min(run_id)
FROM segmentation.pipeline_runs
WHERE run_id > %(run_id)s AND status = 'succeeded' AND rows_published > 0
