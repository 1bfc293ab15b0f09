-- PostgreSQL's estimate of a table's rows, with those of the tables that inherit it, from its statistics
-- (NULL when there are none). Parameter: table (its name, as regclass reads it).
SELECT sum(greatest(reltuples, 0))
FROM pg_class
WHERE oid = CAST(%(table)s AS regclass)
   OR oid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = CAST(%(table)s AS regclass))
