-- The extract's customers whose record repeats another's in every column but the id, with their group's
-- first id (the one keep_first keeps) and size, into the temporary table duplicate_groups (dropped at commit).
-- Parameter: candidate_ids (bigint[]), the customers who share a record hash (tasks/validation/duplicates.py).

-- Read in the same transaction by sql/validation/quarantine_duplicates.sql, once the row checks have
-- been applied.
CREATE TEMPORARY TABLE duplicate_groups ON COMMIT DROP AS
SELECT customer_id, row_to_json(e) AS record,
       min(customer_id) OVER w AS first_id,
       count(*) OVER w AS group_size
FROM segmentation_work.customers_extract AS e
-- The caller never prepares this statement, so the array is a constant of the plan, which PostgreSQL
-- hashes and tests on each row of the scan before taking the row apart (a join with the ids took every
-- row apart first; a generic plan would compare each row with every id).
WHERE e.customer_id = ANY (CAST(%(candidate_ids)s AS bigint[]))
WINDOW w AS (PARTITION BY birth_year, education_raw, marital_status_raw, income, kids_home, teens_home,
                          enrolled_on, recency_days, spend_wines, spend_fruits, spend_meat, spend_fish,
                          spend_sweets, spend_gold, purchases_deals, purchases_web, purchases_catalog,
                          purchases_store, web_visits_month, accepted_cmp1, accepted_cmp2, accepted_cmp3,
                          accepted_cmp4, accepted_cmp5, response, complain);
