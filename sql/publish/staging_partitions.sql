-- The staging table's partitions: name (as regclass prints it) and range (their partition constraint, a
-- condition on customer_id; NULL for a single partition of every id). Parameter: table, the staging table.
SELECT inhrelid::regclass::text AS name, pg_get_partition_constraintdef(inhrelid) AS range
FROM pg_inherits
WHERE inhparent = CAST(%(table)s AS regclass)
ORDER BY 1
