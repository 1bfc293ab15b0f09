-- Customers whose record repeats another's in every column but the id, with their group: the candidates
-- (customers who share a record hash with someone, tasks/validation/duplicates.py) compared on every column.
-- Parameter: candidate_ids, an array the caller binds to a statement it never prepares: a constant of the
-- plan, which PostgreSQL hashes and tests on each row of the scan before taking the row apart (0.9 s at ten
-- million customers; a join with the ids took every row apart first, 5.6 s; a generic plan would compare
-- each row with every id). The group's first id is the one a keep_first policy keeps. A temporary table:
-- the quarantine of the duplicates (sql/validation/quarantine_duplicates.sql, same transaction) reads it
-- once the row checks have been applied.
CREATE TEMPORARY TABLE duplicate_groups ON COMMIT DROP AS
SELECT customer_id, row_to_json(e) AS record,
       min(customer_id) OVER w AS first_id,
       count(*) OVER w AS group_size
FROM segmentation_work.customers_extract AS e
WHERE e.customer_id = ANY (CAST(%(candidate_ids)s AS bigint[]))
WINDOW w AS (PARTITION BY birth_year, education_raw, marital_status_raw, income, kids_home, teens_home,
                          enrolled_on, recency_days, spend_wines, spend_fruits, spend_meat, spend_fish,
                          spend_sweets, spend_gold, purchases_deals, purchases_web, purchases_catalog,
                          purchases_store, web_visits_month, accepted_cmp1, accepted_cmp2, accepted_cmp3,
                          accepted_cmp4, accepted_cmp5, response, complain);
