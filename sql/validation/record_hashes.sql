-- Each extracted customer's id and record hash (source.customer_record_hash over six discriminating columns,
-- kept by source.customers and copied by the extract), for the search for repeated records
-- (tasks/validation/duplicates.py): customers who share a hash with someone else are the candidates, a superset of the
-- duplicates, found by sorting one bigint per customer instead of 26 columns. The exact comparison
-- (sql/validation/duplicate_groups.sql) then only sees these few.
-- The pairs are sorted by the caller, not here: hashing, sorting (hash, row) tuples and counting each hash
-- by a window took 15.7 s alone at ten million customers, where hashing, reading the pairs out and sorting
-- them in numpy took 9.0 s (on one hour), and reading stored hashes out and sorting them 6.0-6.9 s.
SELECT record_hash, customer_id
FROM segmentation_work.customers_extract
