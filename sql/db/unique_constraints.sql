-- A table's primary key and unique constraints, each with its definition as ALTER TABLE ... ADD CONSTRAINT
-- takes it. Parameter: table (its name, as regclass reads it).
SELECT conname AS name, pg_get_constraintdef(oid) AS definition
FROM pg_constraint
WHERE conrelid = CAST(%(table)s AS regclass) AND contype IN ('p', 'u')
ORDER BY conname
