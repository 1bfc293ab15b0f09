-- How many customers a run has quarantined (segmentation.quarantined_customers). Parameter: run_id.
SELECT count(*) FROM segmentation.quarantined_customers WHERE run_id = %(run_id)s;
