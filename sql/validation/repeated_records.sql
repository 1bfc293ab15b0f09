-- Customers whose record may repeat another's (every column but the id): those sharing a 64-bit hash of
-- six discriminating columns with someone else. A superset of the duplicates, found by sorting one
-- bigint per customer instead of 26 columns, and hashing six columns instead of 26 (half the cost of this
-- pass at ten million customers). The exact comparison (sql/validation/duplicate_groups.sql) then only sees
-- these few, fetched by their row address (ctid: the extract is not written to until the run's next
-- extract) instead of by another scan of the extract. A table, analysed, rather than a CTE: the planner
-- would guess a third of the extract and partition the whole extract to disk to join it.
CREATE TEMPORARY TABLE repeated_records ON COMMIT DROP AS
SELECT row_address
FROM (SELECT ctid AS row_address, count(*) OVER (PARTITION BY hash_record_extended(ROW(
                 income, enrolled_on, birth_year, recency_days, spend_wines, spend_meat), 0)) AS customers_with_hash
      FROM segmentation_work.customers_extract) AS hashed
WHERE customers_with_hash > 1;
ANALYZE repeated_records;
