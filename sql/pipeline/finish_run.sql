-- Record how a run ended: succeeded or failed, when, and for a failure the stage and the error. A run another
-- run marked abandoned (it had lost the pipeline lock) ends as it really did.
-- Parameters: run_id, status, failed_stage, error.
UPDATE segmentation.pipeline_runs
SET status = %(status)s, finished_at = now(), failed_stage = %(failed_stage)s, error = %(error)s,
    abandoned_by_run_id = NULL
WHERE run_id = %(run_id)s;
