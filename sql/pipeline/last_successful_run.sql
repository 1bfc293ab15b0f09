-- The latest run that succeeded (the baseline of the row-count check and of drift). No parameters.
SELECT * FROM segmentation.pipeline_runs WHERE status = 'succeeded' ORDER BY run_id DESC LIMIT 1;
