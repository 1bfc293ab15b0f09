-- Snapshot (part of) the source into the run's extract table, in the canonical contract and vocabulary.
-- In the source's order: later stages that need an order ask for it (features are stored by customer id).
-- {source} and {columns} are filled with validated, quoted identifiers from the source mapping, {rows}
-- with nothing or with the range of row addresses this statement copies (tasks/extract.py runs one
-- statement per range at once, in one snapshot). Parameters: label_fields, label_raws,
-- label_canonicals: the canonical label of each raw label (sql/extract/source_labels.sql), as arrays.
INSERT INTO segmentation_work.customers_extract (
    customer_id, birth_year, education, education_raw, marital_status, marital_status_raw, income,
    kids_home, teens_home, enrolled_on, recency_days,
    spend_wines, spend_fruits, spend_meat, spend_fish, spend_sweets, spend_gold,
    purchases_deals, purchases_web, purchases_catalog, purchases_store, web_visits_month,
    accepted_cmp1, accepted_cmp2, accepted_cmp3, accepted_cmp4, accepted_cmp5, response, complain)
WITH labels AS MATERIALIZED (
    SELECT * FROM unnest(%(label_fields)s::text[], %(label_raws)s::text[], %(label_canonicals)s::text[])
                  AS mapped(field, raw, canonical)
)
SELECT src.customer_id, src.birth_year, education_label.canonical, src.education,
       marital_label.canonical, src.marital_status,
       src.income, src.kids_home, src.teens_home, src.enrolled_on, src.recency_days,
       src.spend_wines, src.spend_fruits, src.spend_meat, src.spend_fish, src.spend_sweets, src.spend_gold,
       src.purchases_deals, src.purchases_web, src.purchases_catalog, src.purchases_store, src.web_visits_month,
       src.accepted_cmp1, src.accepted_cmp2, src.accepted_cmp3, src.accepted_cmp4, src.accepted_cmp5,
       src.response, src.complain
FROM (SELECT {columns} FROM {source} {rows}) AS src
LEFT JOIN labels AS education_label ON education_label.field = 'education' AND education_label.raw = src.education
LEFT JOIN labels AS marital_label
       ON marital_label.field = 'marital_status' AND marital_label.raw = src.marital_status
