-- Whether a run's customers are still the published ones (false once a later run has replaced them):
-- publishing replaces every row at once, so the first row found answers. Parameter: run_id.
SELECT EXISTS (SELECT 1 FROM segmentation.customer_segments WHERE run_id = %(run_id)s)
