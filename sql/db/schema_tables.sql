-- The names of a schema's plain tables (partitions among them), in reverse order: a partition's name,
-- <table>_p<n>, comes before its table's. Parameter: schema.
SELECT relname
FROM pg_class
WHERE relnamespace = CAST(%(schema)s AS regnamespace) AND relkind = 'r'
ORDER BY relname DESC
