-- A run's rows of segmentation.conversion_by_band, every dimension (the caller orders them).
-- Parameter: run_id.
SELECT *
FROM segmentation.conversion_by_band
WHERE run_id = %(run_id)s
