-- The source's distinct raw labels and the canonical label of each: the vocabulary's
-- (source.label_vocabulary, so a platform table may speak any known language), or else the raw label
-- trimmed and lower-cased. Once per distinct label rather than once per customer (half the extract's
-- time at a million customers). A plain SELECT, so PostgreSQL may scan the source with parallel workers.
-- {source} and {columns} are filled with validated, quoted identifiers from the source mapping.
WITH label_pairs AS MATERIALIZED (
    SELECT DISTINCT src.education, src.marital_status FROM (SELECT {columns} FROM {source}) AS src
)
SELECT raws.field, raws.raw, coalesce(vocabulary.canonical, lower(btrim(raws.raw))) AS canonical
FROM (SELECT 'education' AS field, education AS raw FROM label_pairs
      UNION SELECT 'marital_status', marital_status FROM label_pairs) AS raws
LEFT JOIN source.label_vocabulary AS vocabulary
       ON vocabulary.field = raws.field AND vocabulary.label = lower(btrim(raws.raw))
WHERE raws.raw IS NOT NULL
