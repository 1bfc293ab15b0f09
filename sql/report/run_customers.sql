-- How many of a run's customers are still the published ones (0 once a later run has replaced them).
-- Parameter: run_id.
SELECT count(*)
FROM segmentation.customer_segments
WHERE run_id = %(run_id)s
