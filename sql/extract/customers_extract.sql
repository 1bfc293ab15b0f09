-- Snapshot a mapped source table into the run's next extract table, in the canonical contract and vocabulary.
-- Fragments: source (the mapped table), columns (its columns AS canonical names), typed (each extract column
-- CAST to its type). Parameters: education_labels, marital_status_labels (JSON: label -> canonical label).
--
-- One CREATE TABLE AS, in the source's order (later stages that need an order ask for it): it writes through
-- PostgreSQL's bulk path, faster alone than two INSERT ... SELECT sharing the work on two connections, and it
-- leaves the other core to the source contract's suite, which runs at the same time. The caller swaps the
-- result in for the previous run's extract (swap_extract.sql).
-- The casts give the extract's columns and types whatever the platform's (a no-op where they are the same),
-- and compute its record_hash and spend_total from those (source.customer_record_hash,
-- source.customer_spend_total, as source.customers computes its own).
CREATE UNLOGGED TABLE segmentation_work.customers_extract_next WITH (autovacuum_enabled = false) AS
SELECT {typed}
FROM (
    -- The labels' JSON objects come from tasks/extract/customers.py canonical_labels: the vocabulary's labels
    -- in lower case and the usual ways of writing them. A label's canonical form is the vocabulary's for the
    -- label trimmed and in lower case, or else the label trimmed and in lower case; the label as found is looked
    -- up first, as lower(btrim()) on every customer would double the extract's time. Labels are read as they
    -- are copied: no first pass.
    SELECT src.customer_id, src.birth_year,
           coalesce(CAST(%(education_labels)s AS jsonb) ->> src.education,
                    CAST(%(education_labels)s AS jsonb) ->> lower(btrim(src.education)),
                    lower(btrim(src.education))) AS education,
           src.education AS education_raw,
           coalesce(CAST(%(marital_status_labels)s AS jsonb) ->> src.marital_status,
                    CAST(%(marital_status_labels)s AS jsonb) ->> lower(btrim(src.marital_status)),
                    lower(btrim(src.marital_status))) AS marital_status,
           src.marital_status AS marital_status_raw,
           src.income, src.kids_home, src.teens_home, src.enrolled_on, src.recency_days,
           src.spend_wines, src.spend_fruits, src.spend_meat, src.spend_fish, src.spend_sweets, src.spend_gold,
           src.purchases_deals, src.purchases_web, src.purchases_catalog, src.purchases_store,
           src.web_visits_month, src.accepted_cmp1, src.accepted_cmp2, src.accepted_cmp3, src.accepted_cmp4,
           src.accepted_cmp5, src.response, src.complain
    FROM (SELECT {columns} FROM {source}) AS src
) AS extracted
