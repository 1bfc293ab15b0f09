-- The features table loses its primary key. Building it took a sort of every customer id each run (slow
-- at millions of customers), and nothing needs it: the source contract proves the ids unique before
-- the extract is used, and the staging partitions' keys check every customer is placed once. The one
-- lookup by id, segmentation.assign_segment(customer_id), now reads the published rows (their key), as
-- sql/model/assign_segment.sql defines it (a repeatable object, applied after the migrations).
ALTER TABLE segmentation_work.customer_features DROP CONSTRAINT IF EXISTS customer_features_pkey;
DROP INDEX IF EXISTS segmentation_work.customer_features_pkey;  -- a unique index a run cut short left
-- Its rows are written by CREATE TABLE AS into parts that inherit it (tasks/features/compute.py), whose columns are
-- nullable: so are the table's (an inheriting table must keep its parent's NOT NULL).
ALTER TABLE segmentation_work.customer_features ALTER COLUMN customer_id DROP NOT NULL;
COMMENT ON TABLE segmentation_work.customer_features IS 'The current run''s features (sql/features/customer_features.sql), one row per modelled customer, validated before modelling; the rows are in the tables that inherit it (customer_features_p0, ...), read through it. No key: the source contract proves the ids unique.';
