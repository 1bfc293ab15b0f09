-- The currency of the latest load of source.customers (none before any load): the report's amounts are in it.
-- No parameters.
SELECT currency
FROM source.loads
ORDER BY load_id DESC
LIMIT 1
