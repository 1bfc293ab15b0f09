-- Give a filled staging partition (placeholder partition) what it must share with
-- segmentation.customer_segments to be attached: its NOT NULL columns (fragment not_null) and a CHECK of its
-- range of ids (fragment range_check). Parameters lower/upper, bound by psycopg into the text (DDL takes none).

-- not_null is ALTER COLUMN ... SET NOT NULL for each NOT NULL column of customer_segments (from the catalog);
-- range_check a condition on customer_id with the range's bounds (or TRUE). The CHECK lets attaching the
-- partition (to the staging table, then to customer_segments) go without a scan to prove the range. One
-- statement, in the transaction that created the partition: one scan checks them all. Its primary key is
-- added by the audit: one index build instead of an insertion per customer, and a repeated customer fails it.
ALTER TABLE {partition} {not_null}, ADD CONSTRAINT customer_id_range CHECK ({range_check});
