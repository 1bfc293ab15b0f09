-- Orders a run left out of the rollup because they break a row-level check, with the reasons and the raw
-- row: kept out of the readers' reach like the quarantined customers.

CREATE TABLE IF NOT EXISTS segmentation_restricted.quarantined_orders (
    run_id  bigint NOT NULL REFERENCES segmentation.pipeline_runs (run_id),
    reasons text[] NOT NULL,
    record  json   NOT NULL
);
CREATE INDEX IF NOT EXISTS quarantined_orders_run_id ON segmentation_restricted.quarantined_orders (run_id);
COMMENT ON TABLE segmentation_restricted.quarantined_orders IS 'Order rows a run left out of the daily rollup because they break a row-level check (an implausible date or amount), with the reasons and the raw row. Each run records those among the orders it rolled up (every order on a full refresh; the touched customers'' orders on an incremental one). Not for segments_reader.';
COMMENT ON COLUMN segmentation_restricted.quarantined_orders.run_id IS 'The run that left the order out.';
COMMENT ON COLUMN segmentation_restricted.quarantined_orders.reasons IS 'Why: implausible_date (before the earliest plausible order date), implausible_amount (above the largest plausible amount of one order, either sign).';
COMMENT ON COLUMN segmentation_restricted.quarantined_orders.record IS 'The order row as the orders table holds it.';
