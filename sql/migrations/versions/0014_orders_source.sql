-- Orders as a source: the canonical source.orders (one row per order line or order, refunds negative)
-- and the record of each orders file `segments load-orders` loaded.

CREATE TABLE IF NOT EXISTS source.order_loads (
    load_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    file_name    text        NOT NULL,
    file_sha256  text        NOT NULL,
    delimiter    text        NOT NULL,
    columns      jsonb       NOT NULL,
    currency     text        NOT NULL,
    row_count    bigint      NOT NULL,
    loaded_at    timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE source.order_loads IS 'One row per orders file loaded by `segments load-orders`: where it came from and how it was read.';
COMMENT ON COLUMN source.order_loads.load_id IS 'Load identifier, referenced by source.orders.load_id.';
COMMENT ON COLUMN source.order_loads.file_name IS 'Name of the loaded file.';
COMMENT ON COLUMN source.order_loads.file_sha256 IS 'SHA-256 of the file''s bytes.';
COMMENT ON COLUMN source.order_loads.delimiter IS 'Field delimiter detected in the file.';
COMMENT ON COLUMN source.order_loads.columns IS 'Which header of the file was read as which canonical column (canonical name -> header).';
COMMENT ON COLUMN source.order_loads.currency IS 'Currency of the amounts (ISO 4217 code).';
COMMENT ON COLUMN source.order_loads.row_count IS 'Orders loaded from the file.';
COMMENT ON COLUMN source.order_loads.loaded_at IS 'When the load committed.';

CREATE TABLE IF NOT EXISTS source.orders (
    order_id     text,
    customer_id  bigint         NOT NULL,
    ordered_at   timestamptz    NOT NULL,
    amount       numeric(18, 4) NOT NULL,
    channel      text,
    category     text,
    quantity     integer,
    load_id      bigint,
    ingested_at  timestamptz    NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX IF NOT EXISTS orders_ingested_at ON source.orders (ingested_at);
COMMENT ON TABLE source.orders IS 'Canonical orders: one row per order (or order line) of a customer; refunds and corrections are negative amounts. Loaded by `segments load-orders` or written by the shop''s own jobs; read by the orders extract.';
COMMENT ON COLUMN source.orders.order_id IS 'The shop''s order identifier, when it has one (unique when present).';
COMMENT ON COLUMN source.orders.customer_id IS 'The customer who ordered.';
COMMENT ON COLUMN source.orders.ordered_at IS 'When the order was placed; a date without a time is midnight in the business time zone. Purchase days are calendar days in that zone.';
COMMENT ON COLUMN source.orders.amount IS 'Order amount in the load''s currency; negative for a refund or correction.';
COMMENT ON COLUMN source.orders.channel IS 'Sales channel (web, store, app...), when known.';
COMMENT ON COLUMN source.orders.category IS 'Product category, when known.';
COMMENT ON COLUMN source.orders.quantity IS 'Items in the order, when known.';
COMMENT ON COLUMN source.orders.load_id IS 'The `segments load-orders` file the row came from (source.order_loads); NULL for rows written by other jobs.';
COMMENT ON COLUMN source.orders.ingested_at IS 'When the row was written: the watermark of incremental runs (rows ingested since the last run are rolled up).';
