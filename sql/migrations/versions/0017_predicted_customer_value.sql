-- Predicted customer value (orders sources): the BG/NBD and Gamma-Gamma models of each run stored as data,
-- the run's per-customer predictions (a work table), and their published columns.

CREATE TABLE IF NOT EXISTS segmentation.value_models (
    run_id                     bigint           PRIMARY KEY REFERENCES segmentation.pipeline_runs (run_id),
    as_of                      date             NOT NULL,
    time_unit_days             double precision NOT NULL,
    horizon_days               integer          NOT NULL,
    fit_customers              integer          NOT NULL,
    bgnbd_r                    double precision NOT NULL,
    bgnbd_alpha                double precision NOT NULL,
    bgnbd_a                    double precision NOT NULL,
    bgnbd_b                    double precision NOT NULL,
    bgnbd_log_likelihood       double precision NOT NULL,
    bgnbd_iterations           integer          NOT NULL,
    repeat_customers           integer          NOT NULL,
    gamma_gamma_p              double precision NOT NULL,
    gamma_gamma_q              double precision NOT NULL,
    gamma_gamma_gamma          double precision NOT NULL,
    gamma_gamma_log_likelihood double precision NOT NULL,
    gamma_gamma_iterations     integer          NOT NULL,
    holdout                    jsonb,
    fitted_at                  timestamptz      NOT NULL DEFAULT now()
);
COMMENT ON TABLE segmentation.value_models IS 'The customer-value models a run fitted on its orders, stored as data: BG/NBD (Fader, Hardie & Lee 2005) for purchases and survival, Gamma-Gamma (Fader & Hardie 2013) for spend per purchase day. One row per run of an orders recipe.';
COMMENT ON COLUMN segmentation.value_models.run_id IS 'The run that fitted the models.';
COMMENT ON COLUMN segmentation.value_models.as_of IS 'The day the customers'' histories end (the run''s as_of).';
COMMENT ON COLUMN segmentation.value_models.time_unit_days IS 'The time unit of the fitted parameters, in days (alpha is in this unit).';
COMMENT ON COLUMN segmentation.value_models.horizon_days IS 'The horizon of the published predictions, in days.';
COMMENT ON COLUMN segmentation.value_models.fit_customers IS 'Customers the BG/NBD fit read (a seeded sample when there are many).';
COMMENT ON COLUMN segmentation.value_models.bgnbd_r IS 'BG/NBD r: shape of the gamma distribution of purchase rates.';
COMMENT ON COLUMN segmentation.value_models.bgnbd_alpha IS 'BG/NBD alpha: scale of the gamma distribution of purchase rates (in the time unit).';
COMMENT ON COLUMN segmentation.value_models.bgnbd_a IS 'BG/NBD a: first shape of the beta distribution of the drop-out probability.';
COMMENT ON COLUMN segmentation.value_models.bgnbd_b IS 'BG/NBD b: second shape of the beta distribution of the drop-out probability.';
COMMENT ON COLUMN segmentation.value_models.bgnbd_log_likelihood IS 'Log-likelihood of the BG/NBD fit on its customers.';
COMMENT ON COLUMN segmentation.value_models.bgnbd_iterations IS 'Iterations the BG/NBD optimiser took to converge.';
COMMENT ON COLUMN segmentation.value_models.repeat_customers IS 'Customers the Gamma-Gamma fit read: those with a repeat purchase day and a positive mean repeat spend.';
COMMENT ON COLUMN segmentation.value_models.gamma_gamma_p IS 'Gamma-Gamma p: shape of the spend per transaction.';
COMMENT ON COLUMN segmentation.value_models.gamma_gamma_q IS 'Gamma-Gamma q: shape of the gamma distribution of the spend scale.';
COMMENT ON COLUMN segmentation.value_models.gamma_gamma_gamma IS 'Gamma-Gamma gamma: scale of the gamma distribution of the spend scale.';
COMMENT ON COLUMN segmentation.value_models.gamma_gamma_log_likelihood IS 'Log-likelihood of the Gamma-Gamma fit.';
COMMENT ON COLUMN segmentation.value_models.gamma_gamma_iterations IS 'Iterations the Gamma-Gamma optimiser took to converge.';
COMMENT ON COLUMN segmentation.value_models.holdout IS 'Honest evaluation: the models fitted on the orders up to a cut-off, their predicted repeat purchase days after it against the actual ones (totals and mean absolute error per customer).';
COMMENT ON COLUMN segmentation.value_models.fitted_at IS 'When the models were fitted.';

CREATE TABLE IF NOT EXISTS segmentation_work.customer_value (
    customer_id             bigint           NOT NULL,
    p_alive                 double precision NOT NULL,
    expected_purchases_365d double precision NOT NULL,
    expected_value_365d     double precision NOT NULL
);
ALTER TABLE segmentation_work.customer_value SET (autovacuum_enabled = false);
COMMENT ON TABLE segmentation_work.customer_value IS 'The run''s predicted value of every customer with orders (empty for a customer-profile run); the staging of the published rows reads it.';
COMMENT ON COLUMN segmentation_work.customer_value.customer_id IS 'The customer.';
COMMENT ON COLUMN segmentation_work.customer_value.p_alive IS 'Probability the customer is still active (BG/NBD).';
COMMENT ON COLUMN segmentation_work.customer_value.expected_purchases_365d IS 'Expected purchase days in the next 365 days (BG/NBD).';
COMMENT ON COLUMN segmentation_work.customer_value.expected_value_365d IS 'Expected spend in the next 365 days: expected purchases times expected spend per purchase day (Gamma-Gamma).';

ALTER TABLE segmentation.customer_segments
    ADD COLUMN IF NOT EXISTS p_alive double precision,
    ADD COLUMN IF NOT EXISTS expected_purchases_365d double precision,
    ADD COLUMN IF NOT EXISTS expected_value_365d double precision;
COMMENT ON COLUMN segmentation.customer_segments.p_alive IS 'Probability (0 to 1) the customer is still active, as of the run (BG/NBD); NULL for a customer-profile source.';
COMMENT ON COLUMN segmentation.customer_segments.expected_purchases_365d IS 'Expected purchase days in the 365 days after as_of (BG/NBD); NULL for a customer-profile source.';
COMMENT ON COLUMN segmentation.customer_segments.expected_value_365d IS 'Expected spend in the 365 days after as_of, in the orders'' currency (BG/NBD purchases times Gamma-Gamma spend per purchase day); NULL for a customer-profile source.';

ALTER TABLE segmentation.segment_profiles
    ADD COLUMN IF NOT EXISTS expected_value_365d double precision;
COMMENT ON COLUMN segmentation.segment_profiles.expected_value_365d IS 'Potential GMV: the segment''s expected spend in the 365 days after as_of (sum of its customers'' expected_value_365d); NULL for a customer-profile source.';
