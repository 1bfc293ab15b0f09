-- A new, empty staging table for the run's rows: logged, because publishing makes this very table the
-- partition of segmentation.customer_segments (sql/publish/swap_partition.sql). Its primary key is added
-- by the audit, after the rows are in: one index build instead of ten million insertions, and a repeated
-- customer fails it.
DROP TABLE IF EXISTS segmentation_work.customer_segments_staging;
CREATE TABLE segmentation_work.customer_segments_staging
    (LIKE segmentation.customer_segments INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE);
COMMENT ON TABLE segmentation_work.customer_segments_staging IS 'The current run''s assignments, audited before publish swaps them in as the partition of segmentation.customer_segments.';
