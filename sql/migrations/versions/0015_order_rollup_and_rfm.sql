-- RFM from orders: the per-customer-per-day rollup the nightly run keeps up to date incrementally, the
-- state of that rollup, the run's RFM summary (a work table) and the published segmentation.customer_rfm.

CREATE INDEX IF NOT EXISTS orders_customer_id ON source.orders (customer_id);

CREATE TABLE IF NOT EXISTS segmentation_work.order_days (
    customer_id  bigint         NOT NULL,
    purchase_day date           NOT NULL,
    amount       numeric        NOT NULL,
    orders       integer        NOT NULL,
    PRIMARY KEY (customer_id, purchase_day)
);
COMMENT ON TABLE segmentation_work.order_days IS 'The orders rolled up per customer and purchase day (a calendar day in the business time zone), kept from run to run: each run refreshes the customers with orders ingested since the last one (or everyone, on a full refresh). The RFM summary reads it.';
COMMENT ON COLUMN segmentation_work.order_days.customer_id IS 'The customer.';
COMMENT ON COLUMN segmentation_work.order_days.purchase_day IS 'The calendar day of the orders, in the business time zone.';
COMMENT ON COLUMN segmentation_work.order_days.amount IS 'The day''s orders summed (refunds and corrections included).';
COMMENT ON COLUMN segmentation_work.order_days.orders IS 'How many order rows the day has.';

CREATE TABLE IF NOT EXISTS segmentation_work.order_rollup_state (
    source_table      text        PRIMARY KEY,
    business_timezone text        NOT NULL,
    watermark         timestamptz,
    refreshed_at      timestamptz NOT NULL,
    full_refresh_at   timestamptz NOT NULL,
    orders_read       bigint      NOT NULL
);
COMMENT ON TABLE segmentation_work.order_rollup_state IS 'Where segmentation_work.order_days stands: which orders table and time zone it rolls up, and the ingestion watermark the next incremental refresh starts from. A different table or time zone makes the next run rebuild the rollup.';
COMMENT ON COLUMN segmentation_work.order_rollup_state.source_table IS 'The orders table rolled up (schema.table).';
COMMENT ON COLUMN segmentation_work.order_rollup_state.business_timezone IS 'The IANA time zone whose calendar days are purchase days.';
COMMENT ON COLUMN segmentation_work.order_rollup_state.watermark IS 'The latest ingestion time rolled up; the next refresh reads rows ingested after it, and after the last refresh less the mapping''s lookback.';
COMMENT ON COLUMN segmentation_work.order_rollup_state.refreshed_at IS 'When the rollup was last refreshed.';
COMMENT ON COLUMN segmentation_work.order_rollup_state.full_refresh_at IS 'When the rollup was last rebuilt from every order.';
COMMENT ON COLUMN segmentation_work.order_rollup_state.orders_read IS 'Order rows the last refresh read.';

CREATE TABLE IF NOT EXISTS segmentation_work.customer_rfm (
    customer_id          bigint  NOT NULL,
    first_purchase_on    date    NOT NULL,
    last_purchase_on     date    NOT NULL,
    purchase_days        integer NOT NULL,
    recency_days         integer NOT NULL,
    tenure_days          integer NOT NULL,
    monetary_total       numeric NOT NULL,
    monetary_mean        numeric NOT NULL,
    repeat_monetary_mean numeric NOT NULL
);
ALTER TABLE segmentation_work.customer_rfm SET (autovacuum_enabled = false);
COMMENT ON TABLE segmentation_work.customer_rfm IS 'The current run''s RFM summary of every customer with orders up to its as_of day (from segmentation_work.order_days); the run''s features read it and its publish copies it to segmentation.customer_rfm.';
COMMENT ON COLUMN segmentation_work.customer_rfm.customer_id IS 'The customer.';
COMMENT ON COLUMN segmentation_work.customer_rfm.first_purchase_on IS 'First purchase day.';
COMMENT ON COLUMN segmentation_work.customer_rfm.last_purchase_on IS 'Last purchase day up to as_of.';
COMMENT ON COLUMN segmentation_work.customer_rfm.purchase_days IS 'Days with a purchase.';
COMMENT ON COLUMN segmentation_work.customer_rfm.recency_days IS 'as_of minus the last purchase day.';
COMMENT ON COLUMN segmentation_work.customer_rfm.tenure_days IS 'as_of minus the first purchase day.';
COMMENT ON COLUMN segmentation_work.customer_rfm.monetary_total IS 'Sum of the amounts.';
COMMENT ON COLUMN segmentation_work.customer_rfm.monetary_mean IS 'Amount per purchase day.';
COMMENT ON COLUMN segmentation_work.customer_rfm.repeat_monetary_mean IS 'Mean of the per-day sums after the first purchase day; 0 without a repeat day.';

CREATE TABLE IF NOT EXISTS segmentation.customer_rfm (
    customer_id          bigint      PRIMARY KEY,
    run_id               bigint      NOT NULL,
    as_of                date        NOT NULL,
    first_purchase_on    date        NOT NULL,
    last_purchase_on     date        NOT NULL,
    purchase_days        integer     NOT NULL,
    recency_days         integer     NOT NULL,
    tenure_days          integer     NOT NULL,
    monetary_total       numeric     NOT NULL,
    monetary_mean        numeric     NOT NULL,
    repeat_monetary_mean numeric     NOT NULL
);
COMMENT ON TABLE segmentation.customer_rfm IS 'RFM of every customer with orders, as of the last run''s as_of day, published with the segments (purchase days are calendar days in the business time zone; several orders on one day are one purchase day). lifetimes summary_data_from_transaction_data(freq=D): frequency = purchase_days - 1, recency = tenure_days - recency_days, T = tenure_days, monetary_value = repeat_monetary_mean. PyMC-Marketing rfm_summary(include_first_transaction=True): frequency = purchase_days, recency = recency_days, monetary_value = monetary_mean. Read by campaign tools.';
COMMENT ON COLUMN segmentation.customer_rfm.customer_id IS 'The customer.';
COMMENT ON COLUMN segmentation.customer_rfm.run_id IS 'The run that published the row.';
COMMENT ON COLUMN segmentation.customer_rfm.as_of IS 'The day the values are computed as of; later orders are ignored.';
COMMENT ON COLUMN segmentation.customer_rfm.first_purchase_on IS 'First purchase day.';
COMMENT ON COLUMN segmentation.customer_rfm.last_purchase_on IS 'Last purchase day up to as_of.';
COMMENT ON COLUMN segmentation.customer_rfm.purchase_days IS 'Days with a purchase (PyMC-Marketing frequency with include_first_transaction=True; lifetimes frequency + 1).';
COMMENT ON COLUMN segmentation.customer_rfm.recency_days IS 'Days from the last purchase day to as_of (PyMC-Marketing recency with include_first_transaction=True; lifetimes T - recency).';
COMMENT ON COLUMN segmentation.customer_rfm.tenure_days IS 'Days from the first purchase day to as_of (lifetimes T).';
COMMENT ON COLUMN segmentation.customer_rfm.monetary_total IS 'Sum of the order amounts up to as_of, refunds included, in the orders'' currency.';
COMMENT ON COLUMN segmentation.customer_rfm.monetary_mean IS 'monetary_total per purchase day (PyMC-Marketing monetary_value with include_first_transaction=True).';
COMMENT ON COLUMN segmentation.customer_rfm.repeat_monetary_mean IS 'Mean of the per-day sums after the first purchase day, 0 without a repeat day (lifetimes monetary_value).';

-- An orders source has no campaign or demographic columns: their profile means are unknown there.
ALTER TABLE segmentation.segment_profiles
    ALTER COLUMN mean_campaign_acceptances DROP NOT NULL,
    ALTER COLUMN mean_age DROP NOT NULL,
    ALTER COLUMN response_rate DROP NOT NULL;
COMMENT ON COLUMN segmentation.segment_profiles.mean_campaign_acceptances IS 'Mean offers accepted; NULL for a source without campaign data (orders).';
COMMENT ON COLUMN segmentation.segment_profiles.mean_age IS 'Mean age; NULL for a source without ages (orders).';
COMMENT ON COLUMN segmentation.segment_profiles.response_rate IS 'Share who accepted the last campaign offer; NULL for a source without campaign data (orders).';

-- The published rows of an orders source carry the purchase-day features only: the profile ones are unknown.
ALTER TABLE segmentation.customer_segments
    ALTER COLUMN campaign_acceptances DROP NOT NULL,
    ALTER COLUMN age DROP NOT NULL,
    ALTER COLUMN children_home DROP NOT NULL,
    ALTER COLUMN web_visits_month DROP NOT NULL,
    ALTER COLUMN conversion_rate DROP NOT NULL,
    ALTER COLUMN response DROP NOT NULL;
COMMENT ON COLUMN segmentation.customer_segments.frequency IS 'Purchases across web, catalogue, store and deals; for an orders source, days with a purchase.';
COMMENT ON COLUMN segmentation.customer_segments.monetary IS 'Spend across all product categories (two years); for an orders source, the net spend of every order up to as_of.';
COMMENT ON COLUMN segmentation.customer_segments.tenure_days IS 'Days from enrolment to the tenure reference date; for an orders source, from the first purchase day to as_of.';
COMMENT ON COLUMN segmentation.customer_segments.spend_per_purchase IS 'Monetary divided by frequency; 0 without purchases (for an orders source, spend per purchase day).';
COMMENT ON COLUMN segmentation.customer_segments.campaign_acceptances IS 'Campaign offers accepted, including the last response (0 to 6); NULL for an orders source.';
COMMENT ON COLUMN segmentation.customer_segments.age IS 'Age in years at the age reference year; NULL for an orders source.';
COMMENT ON COLUMN segmentation.customer_segments.children_home IS 'Children and teenagers at home; NULL for an orders source.';
COMMENT ON COLUMN segmentation.customer_segments.web_visits_month IS 'Web visits last month; NULL for an orders source.';
COMMENT ON COLUMN segmentation.customer_segments.conversion_rate IS 'Purchases per web visit; 0 for customers with no visits; NULL for an orders source.';
COMMENT ON COLUMN segmentation.customer_segments.response IS '1 if the customer accepted the last campaign''s offer; NULL for an orders source.';
