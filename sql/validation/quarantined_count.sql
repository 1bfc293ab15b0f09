-- How many customers a run has quarantined (segmentation_restricted.quarantined_customers).
-- Parameter: run_id.
SELECT count(*) FROM segmentation_restricted.quarantined_customers WHERE run_id = %(run_id)s;
