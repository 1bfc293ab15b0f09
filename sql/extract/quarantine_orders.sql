-- Record the orders a refresh leaves out of the rollup (row-level checks), for the run: every order on a
-- full refresh, the touched customers' on an incremental one (placeholder touched: their join, or nothing).
-- Parameters: run_id, earliest_order, max_amount. Placeholders: orders, ordered_at, amount, touched.
INSERT INTO segmentation_restricted.quarantined_orders (run_id, reasons, record)
SELECT %(run_id)s,
       array_remove(ARRAY[CASE WHEN o.{ordered_at} < %(earliest_order)s THEN 'implausible_date' END,
                          CASE WHEN abs(o.{amount}) > %(max_amount)s THEN 'implausible_amount' END], NULL),
       row_to_json(o)
FROM {orders} AS o
{touched}
WHERE o.{ordered_at} < %(earliest_order)s OR abs(o.{amount}) > %(max_amount)s;
