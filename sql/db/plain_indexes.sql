-- A table's indexes that back no constraint: schema, name and the CREATE INDEX statement that builds each.
-- Parameter: table (its name, as regclass reads it).
SELECT n.nspname AS schema_name, c.relname AS name, pg_get_indexdef(i.indexrelid) AS definition
FROM pg_index AS i
JOIN pg_class AS c ON c.oid = i.indexrelid
JOIN pg_namespace AS n ON n.oid = c.relnamespace
WHERE i.indrelid = CAST(%(table)s AS regclass)
  AND NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conindid = i.indexrelid)
ORDER BY i.indexrelid::regclass::text
