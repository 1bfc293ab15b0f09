-- Remove a run's rows of segmentation.conversion_by_band before they are computed again
-- (conversion_by_band.sql, conversion_by_segment.sql). Parameter: run_id.
DELETE FROM segmentation.conversion_by_band
WHERE run_id = %(run_id)s
