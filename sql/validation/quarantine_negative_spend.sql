-- Set aside the customers of an orders source whose refunds exceed their purchases (a negative net spend):
-- no spend feature describes them. Parameter: run_id.
INSERT INTO segmentation_restricted.quarantined_customers (run_id, customer_id, reasons, record)
SELECT %(run_id)s, r.customer_id, ARRAY['negative_net_spend'], row_to_json(r)
FROM segmentation_work.customer_rfm AS r
WHERE r.monetary_total < 0;
