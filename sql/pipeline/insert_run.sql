-- Record the start of a pipeline run and return its run_id (the run's row in segmentation.pipeline_runs).
-- Parameters: flow_run_id (Prefect's, or NULL), mode_requested, recipe_name, parameters (JSON text).
INSERT INTO segmentation.pipeline_runs (flow_run_id, mode_requested, recipe_name, parameters)
VALUES (%(flow_run_id)s, %(mode_requested)s, %(recipe_name)s, CAST(%(parameters)s AS jsonb))
RETURNING run_id;
