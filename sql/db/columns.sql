-- Every table and view of the documented schemas with its columns and their COMMENTs, in a stable order.
-- Parameter: schemas (text[], in the order the page lists them).
SELECT n.nspname                                  AS schema_name,
       obj_description(n.oid, 'pg_namespace')     AS schema_comment,
       c.relname                                  AS relation_name,
       CASE c.relkind WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' ELSE 'table' END AS kind,
       obj_description(c.oid, 'pg_class')         AS relation_comment,
       a.attname                                  AS column_name,
       format_type(a.atttypid, a.atttypmod)       AS column_type,
       a.attnotnull                               AS not_null,
       col_description(c.oid, a.attnum)           AS column_comment
FROM pg_class AS c
JOIN pg_namespace AS n ON n.oid = c.relnamespace
JOIN pg_attribute AS a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE n.nspname = ANY(%(schemas)s::text[]) AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
ORDER BY array_position(%(schemas)s::text[], n.nspname::text), c.relname, a.attnum
