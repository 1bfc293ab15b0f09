-- Quarantine the repeated records the run's duplicate policy does not keep, from the temporary table
-- duplicate_groups (sql/validation/duplicate_groups.sql, same transaction). Parameters: run_id, duplicates
-- (keep | keep_first | quarantine). Returns one row: duplicates, the customers who repeat an earlier one.

-- It runs after the row checks (sql/validation/quarantine_rows.sql) have quarantined theirs: a customer
-- found by both gets the duplicate reason after the checks' reasons (and only once, should the statement
-- run again). The count is whatever the policy: the report counts them.
WITH quarantined AS (
    INSERT INTO segmentation_restricted.quarantined_customers AS q (run_id, customer_id, reasons, record)
    SELECT %(run_id)s, customer_id,
           ARRAY[CASE WHEN %(duplicates)s = 'keep_first' THEN 'duplicate_of:' ELSE 'duplicate_group_of:' END
                 || first_id],
           record
    FROM duplicate_groups
    WHERE (%(duplicates)s = 'keep_first' AND customer_id <> first_id)
       OR (%(duplicates)s = 'quarantine' AND group_size > 1)
    ON CONFLICT (run_id, customer_id) DO UPDATE
        SET reasons = CASE WHEN q.reasons @> excluded.reasons THEN q.reasons ELSE q.reasons || excluded.reasons END
)
SELECT count(*) AS duplicates FROM duplicate_groups WHERE customer_id <> first_id;
