-- segmentation.customer_segments becomes a partitioned table with one partition holding every customer.
-- Publishing then swaps a new, fully built and audited partition in (sql/publish/swap_partition.sql)
-- instead of upserting every row: readers keep reading the old rows while the new ones are written, and
-- the swap itself holds the table's lock only for a moment. The partitions live in segmentation_work:
-- consumers read them through segmentation.customer_segments, whose privileges are the ones checked.
DO $$
BEGIN
    IF (SELECT relkind FROM pg_class WHERE oid = 'segmentation.customer_segments'::regclass) = 'r' THEN
        ALTER TABLE segmentation.customer_segments RENAME TO customer_segments_published;
        ALTER INDEX segmentation.customer_segments_pkey RENAME TO customer_segments_published_pkey;
        ALTER TABLE segmentation.customer_segments_published SET SCHEMA segmentation_work;
        CREATE TABLE segmentation.customer_segments
            (LIKE segmentation_work.customer_segments_published INCLUDING ALL)
            PARTITION BY RANGE (customer_id);
        ALTER TABLE segmentation.customer_segments ATTACH PARTITION segmentation_work.customer_segments_published
            FOR VALUES FROM (MINVALUE) TO (MAXVALUE);
    END IF;
END
$$;
-- A view created on the old table (sql/views/campaign_audience.sql, by an earlier version of the project)
-- follows it into segmentation_work: the views are applied again after any migration, on the new parent.
-- LIKE copies the column comments, not the table's.
COMMENT ON TABLE segmentation.customer_segments IS 'Current segment and tier of every published customer, with the feature values that placed it. Read by campaign tools.';
COMMENT ON TABLE segmentation_work.customer_segments_published IS 'The partition of segmentation.customer_segments that holds the published rows (replaced by each publish).';

-- Privileges on the new parent: 0004's default privileges cover tables this role creates; say it anyway
-- for a database where another role ran 0004.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'segments_reader') THEN
        GRANT SELECT ON segmentation.customer_segments TO segments_reader;
    END IF;
END
$$;
