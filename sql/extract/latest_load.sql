-- The snapshot date and currency of the latest load of source.customers (none before any load): a run of the
-- pipeline's own source takes them from it. No parameters.
SELECT snapshot_date, currency
FROM source.loads
ORDER BY load_id DESC
LIMIT 1
