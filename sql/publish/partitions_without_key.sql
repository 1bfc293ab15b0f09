-- The names (relname) of the staging partitions whose primary key is still to build (a repeated audit
-- finds them built). Parameter: table, the staging table's name as regclass reads it.
SELECT c.relname
FROM pg_inherits AS i
JOIN pg_class AS c ON c.oid = i.inhrelid
WHERE i.inhparent = CAST(%(table)s AS regclass)
  AND NOT EXISTS (SELECT 1 FROM pg_constraint AS k WHERE k.conrelid = i.inhrelid AND k.contype = 'p')
ORDER BY 1
