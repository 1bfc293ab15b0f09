-- Each customer's record hash, kept with the record: the search for repeated records (tasks/validation/duplicates.py)
-- reads it rather than hashing every customer on every run (reading the stored hash is much cheaper than
-- computing it). A stored generated column, so that every writer of source.customers
-- (`segments load`, `segments generate`, a platform's own INSERTs) keeps it right; the extract copies it
-- with the rest of the row, and computes it for a mapped platform table (tasks/extract/customers.py).
-- The hash is the XOR of each column's own hash function, seeded by its position (a NULL hashes as 0):
-- cheaper than hash_record_extended over a ROW of the six, which builds a record per customer. Two
-- of the six are money (numeric, whose hash copies the value out of the row): with a third one (spend on
-- meat instead of store purchases) the search was slower, though it left fewer candidates. Customers
-- with the same record have the same hash; the converse is not
-- assumed (sql/validation/duplicate_groups.sql compares the candidates' records whole).
CREATE OR REPLACE FUNCTION source.customer_record_hash(income numeric, birth_year integer, enrolled_on date,
                                                       recency_days integer, spend_wines numeric,
                                                       purchases_store integer)
    RETURNS bigint LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
SELECT coalesce(hash_numeric_extended(income, 1), 0) # coalesce(hashint4extended(birth_year, 2), 0)
       # coalesce(hashint4extended(enrolled_on - DATE '2000-01-01', 3), 0)
       # coalesce(hashint4extended(recency_days, 4), 0) # coalesce(hash_numeric_extended(spend_wines, 5), 0)
       # coalesce(hashint4extended(purchases_store, 6), 0)
$$;
COMMENT ON FUNCTION source.customer_record_hash(numeric, integer, date, integer, numeric, integer) IS
    'A customer''s record hash (source.customers.record_hash) from six discriminating columns: equal records have equal hashes.';

-- The hash is the table's second column, after the id: the search reads both, and a column near the start of
-- the row is found without walking the columns before it (reading it as the last column was markedly
-- slower). A column can only be added last, so the table is built anew, with
-- its rows, comments and index; the extract (whose columns begin with the source's, tasks/extract/customers.py) too.
DO $$
DECLARE
    described record;
BEGIN
    IF EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = CAST('source.customers' AS regclass)
                                            AND attname = 'record_hash' AND NOT attisdropped) THEN
        RETURN;
    END IF;
    ALTER TABLE source.customers RENAME TO customers_without_record_hash;
    ALTER INDEX source.customers_customer_id_idx RENAME TO customers_without_record_hash_customer_id_idx;
    CREATE TABLE source.customers (
        customer_id         bigint,
        record_hash         bigint GENERATED ALWAYS AS (source.customer_record_hash(
                                income, birth_year, enrolled_on, recency_days, spend_wines, purchases_store)) STORED,
        birth_year          integer,
        education           text,
        education_raw       text,
        marital_status      text,
        marital_status_raw  text,
        income              numeric(18, 2),
        kids_home           integer,
        teens_home          integer,
        enrolled_on         date,
        recency_days        integer,
        spend_wines         numeric(18, 2),
        spend_fruits        numeric(18, 2),
        spend_meat          numeric(18, 2),
        spend_fish          numeric(18, 2),
        spend_sweets        numeric(18, 2),
        spend_gold          numeric(18, 2),
        purchases_deals     integer,
        purchases_web       integer,
        purchases_catalog   integer,
        purchases_store     integer,
        web_visits_month    integer,
        accepted_cmp1       smallint,
        accepted_cmp2       smallint,
        accepted_cmp3       smallint,
        accepted_cmp4       smallint,
        accepted_cmp5       smallint,
        response            smallint,
        complain            smallint,
        load_id             bigint REFERENCES source.loads (load_id)
    );
    INSERT INTO source.customers (
        customer_id, birth_year, education, education_raw, marital_status, marital_status_raw, income,
        kids_home, teens_home, enrolled_on, recency_days, spend_wines, spend_fruits, spend_meat, spend_fish,
        spend_sweets, spend_gold, purchases_deals, purchases_web, purchases_catalog, purchases_store,
        web_visits_month, accepted_cmp1, accepted_cmp2, accepted_cmp3, accepted_cmp4, accepted_cmp5, response,
        complain, load_id)
    SELECT customer_id, birth_year, education, education_raw, marital_status, marital_status_raw, income,
           kids_home, teens_home, enrolled_on, recency_days, spend_wines, spend_fruits, spend_meat, spend_fish,
           spend_sweets, spend_gold, purchases_deals, purchases_web, purchases_catalog, purchases_store,
           web_visits_month, accepted_cmp1, accepted_cmp2, accepted_cmp3, accepted_cmp4, accepted_cmp5, response,
           complain, load_id
    FROM source.customers_without_record_hash;
    EXECUTE format('COMMENT ON TABLE source.customers IS %L',
                   obj_description(CAST('source.customers_without_record_hash' AS regclass), 'pg_class'));
    FOR described IN
        SELECT attname, col_description(attrelid, attnum) AS description FROM pg_attribute
        WHERE attrelid = CAST('source.customers_without_record_hash' AS regclass) AND attnum > 0
          AND NOT attisdropped AND col_description(attrelid, attnum) IS NOT NULL
    LOOP
        EXECUTE format('COMMENT ON COLUMN source.customers.%I IS %L', described.attname, described.description);
    END LOOP;
    DROP TABLE source.customers_without_record_hash;
    CREATE INDEX customers_customer_id_idx ON source.customers (customer_id);
    ANALYZE source.customers;

    ALTER TABLE segmentation_work.customers_extract RENAME TO customers_extract_without_record_hash;
    CREATE UNLOGGED TABLE segmentation_work.customers_extract (LIKE source.customers INCLUDING DEFAULTS)
        WITH (autovacuum_enabled = false);
    ALTER TABLE segmentation_work.customers_extract DROP COLUMN load_id;
    INSERT INTO segmentation_work.customers_extract
    SELECT customer_id, source.customer_record_hash(income, birth_year, enrolled_on, recency_days, spend_wines,
                                                    purchases_store),
           birth_year, education, education_raw, marital_status, marital_status_raw, income, kids_home,
           teens_home, enrolled_on, recency_days, spend_wines, spend_fruits, spend_meat, spend_fish, spend_sweets,
           spend_gold, purchases_deals, purchases_web, purchases_catalog, purchases_store, web_visits_month,
           accepted_cmp1, accepted_cmp2, accepted_cmp3, accepted_cmp4, accepted_cmp5, response, complain
    FROM segmentation_work.customers_extract_without_record_hash;
    DROP TABLE segmentation_work.customers_extract_without_record_hash;
    COMMENT ON TABLE segmentation_work.customers_extract IS 'The current run''s snapshot of the source, in the canonical contract.';
END
$$;
COMMENT ON COLUMN source.customers.record_hash IS
    'Hash of the record''s discriminating columns (source.customer_record_hash), kept by PostgreSQL: customers who repeat a record share it.';
