-- Each customer's total spend, kept with the record: the features (sql/features/customer_features.sql)
-- read it as monetary rather than adding six numeric amounts and converting the sum for every customer on
-- every run, which was half of their query's time.
-- Double precision, the type the features compute in: the conversion is paid once, as the row is written.
-- A stored generated column, as record_hash is (0011_stored_record_hash.sql): every writer of
-- source.customers keeps it right, the extract copies it with the rest of the row and computes it for a
-- mapped platform table (tasks/extract/customers.py). NULL when an amount is unknown, as the sum was. The last
-- column: adding it rewrites the table once, keeping its rows, comments and index, and the features find it
-- right after the last column they read.
CREATE OR REPLACE FUNCTION source.customer_spend_total(spend_wines numeric, spend_fruits numeric,
                                                       spend_meat numeric, spend_fish numeric,
                                                       spend_sweets numeric, spend_gold numeric)
    RETURNS double precision LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
SELECT CAST(spend_wines + spend_fruits + spend_meat + spend_fish + spend_sweets + spend_gold AS double precision)
$$;
COMMENT ON FUNCTION source.customer_spend_total(numeric, numeric, numeric, numeric, numeric, numeric) IS
    'A customer''s total spend (source.customers.spend_total): the six spends'' sum, as double precision.';

ALTER TABLE source.customers ADD COLUMN IF NOT EXISTS spend_total double precision
    GENERATED ALWAYS AS (source.customer_spend_total(spend_wines, spend_fruits, spend_meat, spend_fish,
                                                     spend_sweets, spend_gold)) STORED;
COMMENT ON COLUMN source.customers.spend_total IS
    'Total spend in the last two years: the six spends'' sum (source.customer_spend_total), kept by PostgreSQL.';

-- The extract's rows are computed once, then kept as they are: a work table with a plain column, which each
-- run fills with the source's (or, for a mapped platform table, computes).
ALTER TABLE segmentation_work.customers_extract ADD COLUMN IF NOT EXISTS spend_total double precision
    GENERATED ALWAYS AS (source.customer_spend_total(spend_wines, spend_fruits, spend_meat, spend_fish,
                                                     spend_sweets, spend_gold)) STORED;
ALTER TABLE segmentation_work.customers_extract ALTER COLUMN spend_total DROP EXPRESSION IF EXISTS;
