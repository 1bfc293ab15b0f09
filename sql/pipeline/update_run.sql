-- Record a run's progress on its row, in its own transaction (it survives a failed publish).
-- Placeholder assignments: "column = value" pairs composed from the recorded fields' names, their values
-- bound; parameter run_id.
UPDATE segmentation.pipeline_runs SET {assignments} WHERE run_id = %(run_id)s;
