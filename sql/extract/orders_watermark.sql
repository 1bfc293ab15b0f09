-- The latest ingestion time in the orders table and how many rows it has after a given time.
-- Parameter: since (NULL: every row). Placeholders: orders, ingested_at. Two subqueries: each can use an
-- index on the ingestion column (the latest row, the rows after since) where one pass would read every row.
SELECT (SELECT max(o.{ingested_at}) FROM {orders} AS o) AS watermark,
       (SELECT count(*) FROM {orders} AS o
        WHERE %(since)s::timestamptz IS NULL OR o.{ingested_at} > %(since)s) AS orders_read
