-- Record where the rollup of an orders table now stands after a refresh.
-- Parameters: source_table, business_timezone, watermark, orders_read, full_refresh.
INSERT INTO segmentation_work.order_rollup_state AS s
    (source_table, business_timezone, watermark, refreshed_at, full_refresh_at, orders_read)
VALUES (%(source_table)s, %(business_timezone)s, %(watermark)s, now(), now(), %(orders_read)s)
ON CONFLICT (source_table) DO UPDATE
SET business_timezone = excluded.business_timezone, watermark = excluded.watermark, refreshed_at = now(),
    full_refresh_at = CASE WHEN %(full_refresh)s THEN now() ELSE s.full_refresh_at END,
    orders_read = excluded.orders_read;
