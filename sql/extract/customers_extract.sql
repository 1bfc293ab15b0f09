-- Snapshot the source into the run's next extract table, in the canonical contract and vocabulary; the
-- caller swaps it in for the previous run's (tasks/extract.py). One CREATE TABLE AS, in the source's order
-- (later stages that need an order ask for it): it writes through PostgreSQL's bulk path, which at ten
-- million customers took less time alone than two INSERT ... SELECT sharing the work on two connections,
-- and it leaves the other core to the source contract's suite, which runs at the same time.
-- {source} and {columns} are filled with validated, quoted identifiers from the source mapping; {typed},
-- with one CAST(extracted.<column> AS <type>) per column of the extract, from its catalog: the extract's
-- columns and types whatever the platform's (a no-op where they are the same). Parameters: label_fields,
-- label_raws, label_canonicals: the canonical label of each raw label (sql/extract/source_labels.sql), as
-- arrays.
CREATE UNLOGGED TABLE segmentation_work.customers_extract_next WITH (autovacuum_enabled = false) AS
WITH labels AS MATERIALIZED (
    SELECT * FROM unnest(%(label_fields)s::text[], %(label_raws)s::text[], %(label_canonicals)s::text[])
                  AS mapped(field, raw, canonical)
)
SELECT {typed}
FROM (
    SELECT src.customer_id, src.birth_year, education_label.canonical AS education, src.education AS education_raw,
           marital_label.canonical AS marital_status, src.marital_status AS marital_status_raw,
           src.income, src.kids_home, src.teens_home, src.enrolled_on, src.recency_days,
           src.spend_wines, src.spend_fruits, src.spend_meat, src.spend_fish, src.spend_sweets, src.spend_gold,
           src.purchases_deals, src.purchases_web, src.purchases_catalog, src.purchases_store,
           src.web_visits_month, src.accepted_cmp1, src.accepted_cmp2, src.accepted_cmp3, src.accepted_cmp4,
           src.accepted_cmp5, src.response, src.complain
    FROM (SELECT {columns} FROM {source}) AS src
    LEFT JOIN labels AS education_label
           ON education_label.field = 'education' AND education_label.raw = src.education
    LEFT JOIN labels AS marital_label
           ON marital_label.field = 'marital_status' AND marital_label.raw = src.marital_status
) AS extracted
