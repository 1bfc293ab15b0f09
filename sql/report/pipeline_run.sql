-- One run's row of segmentation.pipeline_runs (none if there is no such run), for its summary and report.
-- Parameter: run_id.
SELECT *
FROM segmentation.pipeline_runs
WHERE run_id = %(run_id)s
