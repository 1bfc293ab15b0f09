-- How many order rows were ingested after a time, and of how many customers (the night's size). Parameter: since.
SELECT count(*) AS orders, count(DISTINCT customer_id) AS customers
FROM source.orders
WHERE ingested_at > %(since)s
