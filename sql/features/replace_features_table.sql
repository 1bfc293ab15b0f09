-- An empty segmentation_work.customer_features for the run, in place of the previous run's, which is
-- renamed customer_features_retired (its parts _retired_p0, ...) for tasks.db.sql.RetiredTables to drop.
-- No parameters.

-- Where TRUNCATE made its commit wait for the old rows' files to be freed, the old table and its parts (the
-- tables that inherit it, tasks/features/compute.py) are renamed, for RetiredTables to drop meanwhile, off
-- the run's path, and a new one is made like it: its columns, defaults, constraints and column comments
-- (LIKE ... INCLUDING ALL), its table comment and autovacuum setting (LIKE copies neither).
DO $$
DECLARE
    part regclass;
    leftover text;
    retired integer := 0;
BEGIN
    -- A leftover, normally dropped already: its parts, then itself.
    -- By name, IF EXISTS: the previous run's background drop may be dropping the same leftover right now.
    FOR leftover IN SELECT inhrelid::regclass::text FROM pg_inherits
                    WHERE inhparent = to_regclass('segmentation_work.customer_features_retired') LOOP
        EXECUTE 'DROP TABLE IF EXISTS ' || leftover;
    END LOOP;
    DROP TABLE IF EXISTS segmentation_work.customer_features_retired;
    FOR part IN SELECT inhrelid::regclass FROM pg_inherits
                WHERE inhparent = 'segmentation_work.customer_features'::regclass ORDER BY 1 LOOP
        EXECUTE 'DROP TABLE IF EXISTS segmentation_work.customer_features_retired_p' || retired;
        EXECUTE 'ALTER TABLE ' || part::text || ' RENAME TO customer_features_retired_p' || retired;
        retired := retired + 1;
    END LOOP;
    ALTER TABLE segmentation_work.customer_features RENAME TO customer_features_retired;
    CREATE UNLOGGED TABLE segmentation_work.customer_features
        (LIKE segmentation_work.customer_features_retired INCLUDING ALL)
        WITH (autovacuum_enabled = false);
    EXECUTE 'COMMENT ON TABLE segmentation_work.customer_features IS '
         || quote_nullable(obj_description('segmentation_work.customer_features_retired'::regclass, 'pg_class'));
END
$$;
