-- Each extracted customer's record hash and id, for the search for repeated records
-- (tasks/validation/duplicates.py), which sorts them. No parameters. No closing semicolon: a caller may
-- read it as a subquery.

-- The hash (source.customer_record_hash over six discriminating columns) is kept by source.customers and
-- copied by the extract. Customers who share a hash with someone else are the candidates, a superset of
-- the duplicates, found by sorting one bigint per customer instead of 26 columns; the exact comparison
-- (sql/validation/duplicate_groups.sql) then only sees these few. The caller sorts the pairs, not
-- PostgreSQL: sorting (hash, row) tuples and counting each hash by a window cost more than reading the
-- stored hashes out and sorting them in numpy.
SELECT record_hash, customer_id
FROM segmentation_work.customers_extract
