-- How many pages a table's main fork has (its size over the server's block size). Parameter: table (its
-- name, as regclass reads it).
SELECT pg_relation_size(CAST(%(table)s AS regclass)) / current_setting('block_size')::bigint
