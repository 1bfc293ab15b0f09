-- Empty source.customers for generated customers. No parameters.
-- TRUNCATE, not DELETE: instant at millions of rows, and still transactional.
TRUNCATE source.customers
