-- The runs a run found left running and marked (abandoned, or succeeded when their publish had
-- committed), for its summary. Parameter: run_id.
SELECT run_id, status, started_at, finished_at, failed_stage, error
FROM segmentation.pipeline_runs
WHERE abandoned_by_run_id = %(run_id)s
ORDER BY run_id
