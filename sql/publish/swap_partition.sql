-- Make the audited staging partitions the partitions of segmentation.customer_segments, inside the publish
-- transaction, last; the partitions they replace are renamed _retired_, and the staging tables dropped.
-- No parameters.

-- Last, because detaching takes the table's ACCESS EXCLUSIVE lock, which readers then wait on until commit,
-- so they see the old rows or the new ones, never a mix. Its caller asks for the locks with a short
-- lock_timeout and tries again, so a long reader delays the publish, not the other readers. Each keeps its range of customer ids; attaching
-- needs no scan, as the partition's CHECK constraint and primary key (customer_id NOT NULL) already prove the
-- range. Renamed from _staging_ to _published_, so the next run's staging names are free. The partitions
-- they replace are renamed _retired_ (with their keys), not dropped: dropping them here made the commit, and
-- the readers waiting on it, wait for their files to be freed; tasks.db.sql.RetiredTables drops them during
-- the next run, off its path.
DO $$
DECLARE
    partition regclass;
    staged_name text;
    published_name text;
    retired_name text;
    bound text;
    key_name text;
    retired integer := 0;
BEGIN
    FOR partition IN SELECT inhrelid::regclass FROM pg_inherits
                     WHERE inhparent = 'segmentation.customer_segments'::regclass ORDER BY 1 LOOP
        -- regclass prints as a quoted, qualified name (all partitions live in segmentation_work).
        EXECUTE 'ALTER TABLE segmentation.customer_segments DETACH PARTITION ' || partition::text;
        retired_name := 'customer_segments_retired_p' || retired;
        retired := retired + 1;
        EXECUTE 'DROP TABLE IF EXISTS segmentation_work.' || quote_ident(retired_name);  -- a leftover
        SELECT conname INTO key_name FROM pg_constraint WHERE conrelid = partition AND contype = 'p';
        EXECUTE 'ALTER TABLE ' || partition::text || ' RENAME TO ' || quote_ident(retired_name);
        IF key_name IS NOT NULL THEN  -- its key's name is the next partition's
            EXECUTE 'ALTER TABLE segmentation_work.' || quote_ident(retired_name) || ' RENAME CONSTRAINT '
                 || quote_ident(key_name) || ' TO ' || quote_ident(retired_name || '_pkey');
        END IF;
    END LOOP;
    FOR partition, staged_name, bound IN
        SELECT c.oid::regclass, c.relname, pg_get_expr(c.relpartbound, c.oid)
        FROM pg_inherits AS i JOIN pg_class AS c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'segmentation_work.customer_segments_staging'::regclass
        ORDER BY c.relname LOOP
        published_name := replace(staged_name, '_staging', '_published');
        EXECUTE 'ALTER TABLE segmentation_work.customer_segments_staging DETACH PARTITION ' || partition::text;
        EXECUTE 'ALTER TABLE ' || partition::text || ' RENAME TO ' || quote_ident(published_name);
        EXECUTE 'ALTER INDEX segmentation_work.' || quote_ident(staged_name || '_pkey')
             || ' RENAME TO ' || quote_ident(published_name || '_pkey');
        EXECUTE 'ALTER TABLE segmentation.customer_segments ATTACH PARTITION segmentation_work.'
             || quote_ident(published_name) || ' ' || bound;
        EXECUTE 'COMMENT ON TABLE segmentation_work.' || quote_ident(published_name) || ' IS '
             || quote_literal('A partition of segmentation.customer_segments: the published rows of one range '
                              || 'of customer ids (replaced by each publish).');
    END LOOP;
END
$$;
DROP TABLE segmentation_work.customer_segments_staging;
DROP TABLE segmentation_work.staged_totals;
