-- The customers with an order row ingested after the watermark (less the lookback), for this transaction.
-- Parameter: since. Placeholders: orders, customer_id, ingested_at.
CREATE TEMPORARY TABLE touched_customers ON COMMIT DROP AS
SELECT DISTINCT o.{customer_id} AS customer_id
FROM {orders} AS o
WHERE o.{ingested_at} > %(since)s AND o.{customer_id} IS NOT NULL;
