-- The changes of a first publish, for segment_history.sql's fragment changes: into an empty history every
-- staged customer opens a row, nothing to close. A query in history_changes.sql's columns; no parameters.
SELECT customer_id, false AS close_current, true AS open_new, segment_id, segment_name, tier, run_id
FROM segmentation_work.customer_segments_staging
