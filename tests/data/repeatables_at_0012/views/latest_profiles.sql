-- segmentation.latest_profiles: the segment profiles of the latest run that published (the run behind
-- segmentation.customer_segments; profiles are written in the same transaction as the segments).
-- The run's columns come first so that columns added to segment_profiles later append at the end.
CREATE OR REPLACE VIEW segmentation.latest_profiles AS
SELECT r.as_of, r.recipe_name, r.finished_at, p.*
FROM segmentation.segment_profiles AS p
JOIN segmentation.pipeline_runs AS r USING (run_id)
WHERE p.run_id = (SELECT max(run_id) FROM segmentation.segment_profiles);
COMMENT ON VIEW segmentation.latest_profiles IS 'Segment profiles (size, mean features, value, action) of the latest run that published.';
COMMENT ON COLUMN segmentation.latest_profiles.as_of IS 'Date the run''s features were computed as of.';
COMMENT ON COLUMN segmentation.latest_profiles.recipe_name IS 'Recipe of the run.';
COMMENT ON COLUMN segmentation.latest_profiles.finished_at IS 'When the run ended (NULL for a moment after its publish commits).';
-- The profile columns keep the comments of segmentation.segment_profiles.
DO $$
DECLARE
    profile_column record;
BEGIN
    FOR profile_column IN
        SELECT a.attname, col_description(a.attrelid, a.attnum) AS description
        FROM pg_attribute AS a
        WHERE a.attrelid = 'segmentation.segment_profiles'::regclass AND a.attnum > 0 AND NOT a.attisdropped
    LOOP
        EXECUTE format('COMMENT ON COLUMN segmentation.latest_profiles.%I IS %L',
                       profile_column.attname, profile_column.description);
    END LOOP;
END
$$;
