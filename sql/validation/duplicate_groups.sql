-- Customers whose record repeats another's in every column but the id, with their group: the candidates
-- of repeated_records (sql/validation/repeated_records.sql, same transaction) compared on every column.
-- The group's first id is the one a keep_first policy keeps. The candidates are fetched by row address (a
-- TID scan of a few rows, where a join by customer id scans the whole extract). A temporary table: the
-- quarantine of the duplicates (sql/validation/quarantine_duplicates.sql) reads it once the row checks
-- have been applied.
CREATE TEMPORARY TABLE duplicate_groups ON COMMIT DROP AS
SELECT customer_id, row_to_json(e) AS record,
       min(customer_id) OVER w AS first_id,
       count(*) OVER w AS group_size
FROM segmentation_work.customers_extract AS e
WHERE e.ctid = ANY (ARRAY(SELECT row_address FROM repeated_records))
WINDOW w AS (PARTITION BY birth_year, education_raw, marital_status_raw, income, kids_home, teens_home,
                          enrolled_on, recency_days, spend_wines, spend_fruits, spend_meat, spend_fish,
                          spend_sweets, spend_gold, purchases_deals, purchases_web, purchases_catalog,
                          purchases_store, web_visits_month, accepted_cmp1, accepted_cmp2, accepted_cmp3,
                          accepted_cmp4, accepted_cmp5, response, complain);
