-- The runs that started after a run (the published one, for `segments show`), newest first, at most
-- `limit`: what became of them, when none of them replaced its segments. Parameters: run_id, limit.
SELECT run_id, status, started_at, finished_at, stage, failed_stage, error, rows_published, report_error
FROM segmentation.pipeline_runs
WHERE run_id > %(run_id)s
ORDER BY run_id DESC
LIMIT %(limit)s
