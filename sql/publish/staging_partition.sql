-- What a staging partition (sql/publish/stage_assignments.sql) must share with
-- segmentation.customer_segments to be attached to it: its NOT NULL columns, here {not_null} (ALTER COLUMN
-- ... SET NOT NULL for each, from the catalog), and a CHECK constraint stating its range of ids, so that
-- attaching it (to the staging table, then to customer_segments) needs no scan to prove it. One statement,
-- in the transaction that created the partition: one scan checks them all. Its primary key is added by the
-- audit: one index build instead of an insertion per customer, and a repeated customer fails it.
-- {partition} is a name tasks/publish/write_audit_publish.py makes, {range_check} a condition on customer_id with the range's
-- integer bounds (or TRUE).
ALTER TABLE {partition} {not_null}, ADD CONSTRAINT customer_id_range CHECK ({range_check});
