-- A new, empty staging table for the run's rows, segmentation_work.customer_segments_staging, partitioned
-- by ranges of customer id as segmentation.customer_segments is. No parameters.

-- Its partitions are built at once, each by its own connection (sql/publish/stage_assignments.sql), and
-- attached once filled (sql/publish/attach_staging_partition.sql); publishing moves them into
-- segmentation.customer_segments (sql/publish/swap_partition.sql), so they are logged tables. Dropping the
-- table drops the partitions of an earlier run that was staged and never published; the loop, partitions
-- a failed stage left unattached.
DROP TABLE IF EXISTS segmentation_work.customer_segments_staging;
DROP TABLE IF EXISTS segmentation_work.staged_totals;  -- an earlier audit's (sql/publish/staged_totals.sql)
DO $$
DECLARE
    leftover regclass;
BEGIN
    FOR leftover IN SELECT c.oid::regclass FROM pg_class AS c
                    WHERE c.relnamespace = 'segmentation_work'::regnamespace AND c.relkind = 'r'
                      AND c.relname ~ '^customer_segments_staging_p[0-9]+$' LOOP
        EXECUTE 'DROP TABLE ' || leftover::text;
    END LOOP;
END
$$;
CREATE TABLE segmentation_work.customer_segments_staging
    (LIKE segmentation.customer_segments INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE)
    PARTITION BY RANGE (customer_id);
COMMENT ON TABLE segmentation_work.customer_segments_staging IS 'The current run''s assignments, audited before publish swaps its partitions in as the partitions of segmentation.customer_segments.';
