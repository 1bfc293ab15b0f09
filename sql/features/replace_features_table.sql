-- An empty segmentation_work.customer_features for the run, in place of the previous run's. Where
-- TRUNCATE made its commit wait for the old rows' files to be freed, the old table is renamed, for
-- tasks.sql.RetiredTables to drop meanwhile, off the run's path, and a new one is made like it: its
-- columns, defaults, constraints and column comments (LIKE ... INCLUDING ALL), its table comment and
-- autovacuum setting (LIKE copies neither). (No format(): this file goes through the driver's parameter
-- syntax.)
DROP TABLE IF EXISTS segmentation_work.customer_features_retired;  -- a leftover, normally dropped already
ALTER TABLE segmentation_work.customer_features RENAME TO customer_features_retired;
CREATE UNLOGGED TABLE segmentation_work.customer_features
    (LIKE segmentation_work.customer_features_retired INCLUDING ALL)
    WITH (autovacuum_enabled = false);
DO $$
BEGIN
    EXECUTE 'COMMENT ON TABLE segmentation_work.customer_features IS '
         || quote_nullable(obj_description('segmentation_work.customer_features_retired'::regclass, 'pg_class'));
END
$$;
