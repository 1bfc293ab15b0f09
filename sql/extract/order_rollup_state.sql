-- Where the rollup of an orders table stands (its time zone, watermark and last refresh), if it was built.
-- Parameter: source_table.
SELECT business_timezone, watermark, refreshed_at
FROM segmentation_work.order_rollup_state
WHERE source_table = %(source_table)s;
