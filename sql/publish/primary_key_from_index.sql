-- Make a staging partition's unique index on customer_id (placeholder key, from unique_customer_index.sql)
-- the primary key of the partition (placeholder partition), which customer_segments' partitions need: a
-- moment's lock. No parameters.
ALTER TABLE {partition} ADD CONSTRAINT {key} PRIMARY KEY USING INDEX {key}
