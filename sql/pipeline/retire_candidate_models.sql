-- A candidate model of a failed run never becomes visible as anything else: retire it.
-- Parameter: run_id.
UPDATE segmentation.models SET status = 'retired' WHERE run_id = %(run_id)s AND status = 'candidate';
