-- How many customers a run published: the sum of its segment profiles (inserted in the same transaction).
-- Parameter: run_id.
SELECT sum(customers) FROM segmentation.segment_profiles WHERE run_id = %(run_id)s
