-- The mapped source columns whose type PostgreSQL would not convert to the extract's on its own (in an
-- INSERT: the same type, an implicit or assignment cast, or a text column, which takes any value through
-- its text form), with both types: the extract casts every column, so it checks these first and names them
-- rather than converting them. Domains count as their base type. Parameters: source (the quoted table
-- name), canonical_columns, source_columns (the mapping, as arrays in the same order).
SELECT mapped.canonical_column, format_type(s.atttypid, s.atttypmod) AS source_type,
       format_type(e.atttypid, e.atttypmod) AS expected_type
FROM unnest(CAST(%(canonical_columns)s AS text[]), CAST(%(source_columns)s AS text[]))
         AS mapped(canonical_column, source_column)
JOIN pg_attribute AS s
  ON s.attrelid = CAST(%(source)s AS regclass) AND s.attname = mapped.source_column AND NOT s.attisdropped
JOIN pg_type AS st ON st.oid = s.atttypid
JOIN pg_attribute AS e
  ON e.attrelid = CAST('segmentation_work.customers_extract' AS regclass) AND e.attname = mapped.canonical_column
 AND NOT e.attisdropped
WHERE coalesce(nullif(st.typbasetype, 0), st.oid) <> e.atttypid
  AND e.atttypid NOT IN (CAST('text' AS regtype), CAST('varchar' AS regtype), CAST('bpchar' AS regtype))
  AND NOT EXISTS (SELECT 1 FROM pg_cast AS c
                  WHERE c.castsource = coalesce(nullif(st.typbasetype, 0), st.oid) AND c.casttarget = e.atttypid
                    AND c.castcontext IN ('a', 'i'))
ORDER BY mapped.canonical_column
