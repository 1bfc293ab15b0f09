-- The currency of a run's amounts: the one the run recorded (its mapping's, else its load's), else, for a run
-- from before runs recorded it, the latest load's. Parameter: run_id.
SELECT coalesce((SELECT currency FROM segmentation.pipeline_runs WHERE run_id = %(run_id)s),
                (SELECT currency FROM source.loads ORDER BY load_id DESC LIMIT 1))
