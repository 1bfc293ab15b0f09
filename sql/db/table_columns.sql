-- A table's columns from the catalog, in order: name, type (with its modifier, as SQL writes it) and not_null.
-- Parameter: table (its name, as regclass reads it).
SELECT attname AS name, format_type(atttypid, atttypmod) AS type, attnotnull AS not_null
FROM pg_attribute
WHERE attrelid = CAST(%(table)s AS regclass) AND attnum > 0 AND NOT attisdropped
ORDER BY attnum
