-- The mapped source columns whose type the extract's column would not take, with both types, so they are
-- named rather than converted. Parameters: source (the table's quoted name), canonical_columns,
-- source_columns (the mapping, as arrays in the same order).
--
-- A column is taken when PostgreSQL would convert it on its own in an INSERT: the same type, an implicit or
-- assignment cast, or a text column, which takes any value through its text form. Domains count as their
-- base type. The extract casts every column, hence this check first.
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
