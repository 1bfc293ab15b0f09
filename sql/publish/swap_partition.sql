-- Make the audited staging table the partition of segmentation.customer_segments (inside the publish
-- transaction, last: detaching takes the table's ACCESS EXCLUSIVE lock, which readers then wait on until
-- commit, so they see the old rows or the new ones, never a mix). Attaching needs no scan: the primary
-- key makes customer_id NOT NULL, which is all the MINVALUE..MAXVALUE bound asks.
DO $$
DECLARE
    partition regclass;
BEGIN
    FOR partition IN SELECT inhrelid::regclass FROM pg_inherits
                     WHERE inhparent = 'segmentation.customer_segments'::regclass LOOP
        -- regclass prints as a quoted, qualified name (no format(): this file goes through the driver's
        -- parameter syntax).
        EXECUTE 'ALTER TABLE segmentation.customer_segments DETACH PARTITION ' || partition::text;
        EXECUTE 'DROP TABLE ' || partition::text;
    END LOOP;
END
$$;
ALTER TABLE segmentation_work.customer_segments_staging RENAME TO customer_segments_published;
ALTER INDEX segmentation_work.customer_segments_staging_pkey RENAME TO customer_segments_published_pkey;
ALTER TABLE segmentation.customer_segments ATTACH PARTITION segmentation_work.customer_segments_published
    FOR VALUES FROM (MINVALUE) TO (MAXVALUE);
COMMENT ON TABLE segmentation_work.customer_segments_published IS 'The partition of segmentation.customer_segments that holds the published rows (replaced by each publish).';
