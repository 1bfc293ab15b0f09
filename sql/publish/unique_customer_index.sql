-- Build a unique index on customer_id (placeholder key) of a staging partition (placeholder partition): the
-- check that every customer is staged once, and the index its primary key is then made from. No parameters.
CREATE UNIQUE INDEX {key} ON {partition} (customer_id)
