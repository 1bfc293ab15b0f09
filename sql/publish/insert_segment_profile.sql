-- Insert one row of segment_profiles.sql's result (run once per segment); a retried publish of the run adds
-- nothing. Fragments columns and values: the result's column names and their placeholders.
-- Parameters: the row's values, by column name.
INSERT INTO segmentation.segment_profiles ({columns}) VALUES ({values})
ON CONFLICT (run_id, segment_id) DO NOTHING
