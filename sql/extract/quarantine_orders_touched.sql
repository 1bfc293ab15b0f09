-- Record the orders of the touched customers an incremental refresh leaves out of the rollup (row-level
-- checks), for the run. Parameters: run_id, earliest_order, max_amount. Placeholders: orders, customer_id,
-- ordered_at, amount.
INSERT INTO segmentation_restricted.quarantined_orders (run_id, reasons, record)
SELECT %(run_id)s,
       array_remove(ARRAY[CASE WHEN o.{ordered_at} < %(earliest_order)s THEN 'implausible_date' END,
                          CASE WHEN abs(o.{amount}) > %(max_amount)s THEN 'implausible_amount' END], NULL),
       row_to_json(o)
FROM {orders} AS o
JOIN touched_customers AS t ON t.customer_id = o.{customer_id}
WHERE o.{ordered_at} < %(earliest_order)s OR abs(o.{amount}) > %(max_amount)s;
