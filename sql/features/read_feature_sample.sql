-- A sample of the run's features in customer id order (as read_features.sql): the customers whose id
-- hashes with the seed below the bound. The placeholder columns is the select list. Parameters: seed, bound
-- (bound by psycopg into the text: ADBC takes none). No closing semicolon: ADBC reads it as a subquery.

-- hashint8extended spreads ids uniformly over the bigint range, so the share of it below the bound is the
-- share of customers sampled, the same customers whatever the table's order.
SELECT {columns} FROM segmentation_work.customer_features
WHERE hashint8extended(customer_id, %(seed)s) < %(bound)s
ORDER BY customer_id
