-- What the pipeline writes: runs, models (as data), current segments, per-run profiles, quarantine.
-- Campaign tools read this schema; names here are a public contract (see README).

CREATE SCHEMA IF NOT EXISTS segmentation;
COMMENT ON SCHEMA segmentation IS 'Customer segments and tiers published by the nightly segmentation pipeline, for campaign tools and BI.';

CREATE TABLE IF NOT EXISTS segmentation.pipeline_runs (
    run_id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    flow_run_id        text,
    status             text        NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'succeeded', 'failed')),
    mode_requested     text        NOT NULL,
    mode               text,
    mode_reasons       jsonb       NOT NULL DEFAULT '[]',
    recipe_name        text        NOT NULL,
    parameters         jsonb       NOT NULL,
    as_of              date,
    model_version      integer,
    rows_extracted     integer,
    rows_quarantined   integer,
    rows_modelled      integer,
    rows_published     integer,
    timings            jsonb       NOT NULL DEFAULT '{}',
    started_at         timestamptz NOT NULL DEFAULT now(),
    finished_at        timestamptz,
    failed_stage       text,
    error              text
);
COMMENT ON TABLE segmentation.pipeline_runs IS 'One row per pipeline run: what was asked, what was decided, counts, timings and, for a failed run, why.';
COMMENT ON COLUMN segmentation.pipeline_runs.run_id IS 'Run identifier; every published row carries the run that wrote it.';
COMMENT ON COLUMN segmentation.pipeline_runs.flow_run_id IS 'Prefect flow run id, when run under Prefect.';
COMMENT ON COLUMN segmentation.pipeline_runs.status IS 'running, succeeded or failed.';
COMMENT ON COLUMN segmentation.pipeline_runs.mode_requested IS 'Mode asked for: retrain, reassign or auto.';
COMMENT ON COLUMN segmentation.pipeline_runs.mode IS 'Mode carried out: retrain or reassign.';
COMMENT ON COLUMN segmentation.pipeline_runs.mode_reasons IS 'Why that mode was chosen (JSON list of reasons).';
COMMENT ON COLUMN segmentation.pipeline_runs.recipe_name IS 'Feature/model recipe used.';
COMMENT ON COLUMN segmentation.pipeline_runs.parameters IS 'Run parameters as given (JSON).';
COMMENT ON COLUMN segmentation.pipeline_runs.as_of IS 'Date the features were computed as of.';
COMMENT ON COLUMN segmentation.pipeline_runs.model_version IS 'Model that assigned the segments (segmentation.models).';
COMMENT ON COLUMN segmentation.pipeline_runs.rows_extracted IS 'Customers read from the source.';
COMMENT ON COLUMN segmentation.pipeline_runs.rows_quarantined IS 'Customers set aside by validation (segmentation.quarantined_customers).';
COMMENT ON COLUMN segmentation.pipeline_runs.rows_modelled IS 'Customers that reached the model.';
COMMENT ON COLUMN segmentation.pipeline_runs.rows_published IS 'Customers published in segmentation.customer_segments.';
COMMENT ON COLUMN segmentation.pipeline_runs.timings IS 'Seconds per stage (JSON).';
COMMENT ON COLUMN segmentation.pipeline_runs.started_at IS 'When the run started.';
COMMENT ON COLUMN segmentation.pipeline_runs.finished_at IS 'When the run ended.';
COMMENT ON COLUMN segmentation.pipeline_runs.failed_stage IS 'Stage that failed, for a failed run.';
COMMENT ON COLUMN segmentation.pipeline_runs.error IS 'Error message, for a failed run.';

CREATE TABLE IF NOT EXISTS segmentation.models (
    model_version        integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    trained_at           timestamptz NOT NULL DEFAULT now(),
    run_id               bigint      NOT NULL REFERENCES segmentation.pipeline_runs (run_id),
    as_of                date        NOT NULL,
    recipe_name          text        NOT NULL,
    recipe               jsonb       NOT NULL,
    features             text[]      NOT NULL,
    preprocessing        jsonb       NOT NULL,
    centroids            jsonb       NOT NULL,
    metrics              jsonb       NOT NULL,
    training_rows        integer     NOT NULL,
    training_fingerprint text        NOT NULL,
    feature_baseline     jsonb       NOT NULL,
    status               text        NOT NULL CHECK (status IN ('candidate', 'active', 'retired'))
);
CREATE UNIQUE INDEX IF NOT EXISTS models_one_active ON segmentation.models (status) WHERE status = 'active';
COMMENT ON TABLE segmentation.models IS 'Model registry: each K-Means model as data (preprocessing, centroids, metrics), no pickles.';
COMMENT ON COLUMN segmentation.models.model_version IS 'Model version.';
COMMENT ON COLUMN segmentation.models.trained_at IS 'When the model was fitted.';
COMMENT ON COLUMN segmentation.models.run_id IS 'Run that trained it.';
COMMENT ON COLUMN segmentation.models.as_of IS 'As-of date of the training features.';
COMMENT ON COLUMN segmentation.models.recipe_name IS 'Recipe name.';
COMMENT ON COLUMN segmentation.models.recipe IS 'The full recipe (JSON).';
COMMENT ON COLUMN segmentation.models.features IS 'Model features, in centroid column order.';
COMMENT ON COLUMN segmentation.models.preprocessing IS 'Per feature: imputation value, capping bounds, transform, scaler parameters (JSON).';
COMMENT ON COLUMN segmentation.models.centroids IS 'Cluster centres in scaled feature space, one list per cluster index (JSON).';
COMMENT ON COLUMN segmentation.models.metrics IS 'Model-selection metrics per k and the reasons for the chosen k (JSON).';
COMMENT ON COLUMN segmentation.models.training_rows IS 'Customers the model was fitted on.';
COMMENT ON COLUMN segmentation.models.training_fingerprint IS 'SHA-256 over the training feature rows.';
COMMENT ON COLUMN segmentation.models.feature_baseline IS 'Per-feature quantile bins and shares at training time, for drift (PSI) checks.';
COMMENT ON COLUMN segmentation.models.status IS 'candidate (trained by a run not yet published), active (used to reassign; at most one) or retired.';

CREATE TABLE IF NOT EXISTS segmentation.model_segments (
    model_version      integer NOT NULL REFERENCES segmentation.models (model_version),
    cluster_index      integer NOT NULL,
    segment_id         integer NOT NULL,
    segment_name       text    NOT NULL,
    tier               text    NOT NULL CHECK (tier IN ('Platinum', 'Gold', 'Silver', 'Bronze')),
    recommended_action text    NOT NULL,
    PRIMARY KEY (model_version, cluster_index),
    UNIQUE (model_version, segment_id),
    UNIQUE (model_version, segment_name)
);
COMMENT ON TABLE segmentation.model_segments IS 'The named segment and tier behind each cluster of each model; segment ids are stable across retrains.';
COMMENT ON COLUMN segmentation.model_segments.model_version IS 'Model version.';
COMMENT ON COLUMN segmentation.model_segments.cluster_index IS 'Row of the centroid in segmentation.models.centroids.';
COMMENT ON COLUMN segmentation.model_segments.segment_id IS 'Stable segment identifier, carried over between models by centroid matching.';
COMMENT ON COLUMN segmentation.model_segments.segment_name IS 'Human name derived from the centroid, e.g. High-Value Frequent.';
COMMENT ON COLUMN segmentation.model_segments.tier IS 'Membership tier: Platinum, Gold, Silver or Bronze.';
COMMENT ON COLUMN segmentation.model_segments.recommended_action IS 'What marketing should do with this segment.';

CREATE TABLE IF NOT EXISTS segmentation.customer_segments (
    customer_id            bigint           PRIMARY KEY,
    segment_id             integer          NOT NULL,
    segment_name           text             NOT NULL,
    tier                   text             NOT NULL,
    recommended_action     text             NOT NULL,
    model_version          integer          NOT NULL,
    run_id                 bigint           NOT NULL,
    assigned_at            timestamptz      NOT NULL,
    recency_days           double precision NOT NULL,
    frequency              double precision NOT NULL,
    monetary               double precision NOT NULL,
    tenure_days            double precision NOT NULL,
    campaign_acceptances   double precision NOT NULL,
    age                    double precision NOT NULL,
    income                 double precision,
    children_home          double precision NOT NULL,
    web_visits_month       double precision NOT NULL,
    conversion_rate        double precision NOT NULL,
    spend_per_purchase     double precision NOT NULL,
    response               smallint         NOT NULL,
    distance_to_centroid   double precision NOT NULL
);
COMMENT ON TABLE segmentation.customer_segments IS 'Current segment and tier of every published customer, with the feature values that placed it. Read by campaign tools.';
COMMENT ON COLUMN segmentation.customer_segments.customer_id IS 'Customer identifier (source.customers.customer_id).';
COMMENT ON COLUMN segmentation.customer_segments.segment_id IS 'Stable segment identifier.';
COMMENT ON COLUMN segmentation.customer_segments.segment_name IS 'Segment name, e.g. High-Value Frequent.';
COMMENT ON COLUMN segmentation.customer_segments.tier IS 'Membership tier: Platinum, Gold, Silver or Bronze.';
COMMENT ON COLUMN segmentation.customer_segments.recommended_action IS 'Recommended action for the tier.';
COMMENT ON COLUMN segmentation.customer_segments.model_version IS 'Model that assigned the segment.';
COMMENT ON COLUMN segmentation.customer_segments.run_id IS 'Run that published the row.';
COMMENT ON COLUMN segmentation.customer_segments.assigned_at IS 'When the row was published.';
COMMENT ON COLUMN segmentation.customer_segments.recency_days IS 'Days since the last purchase, as of the run.';
COMMENT ON COLUMN segmentation.customer_segments.frequency IS 'Purchases across web, catalogue, store and deals.';
COMMENT ON COLUMN segmentation.customer_segments.monetary IS 'Spend across all product categories (two years).';
COMMENT ON COLUMN segmentation.customer_segments.tenure_days IS 'Days from enrolment to the tenure reference date.';
COMMENT ON COLUMN segmentation.customer_segments.campaign_acceptances IS 'Campaign offers accepted, including the last response (0 to 6).';
COMMENT ON COLUMN segmentation.customer_segments.age IS 'Age in years at the age reference year.';
COMMENT ON COLUMN segmentation.customer_segments.income IS 'Yearly household income (NULL when unknown and not imputed).';
COMMENT ON COLUMN segmentation.customer_segments.children_home IS 'Children and teenagers at home.';
COMMENT ON COLUMN segmentation.customer_segments.web_visits_month IS 'Web visits last month.';
COMMENT ON COLUMN segmentation.customer_segments.conversion_rate IS 'Purchases per web visit; 0 for customers with no visits.';
COMMENT ON COLUMN segmentation.customer_segments.spend_per_purchase IS 'Monetary divided by frequency; 0 without purchases.';
COMMENT ON COLUMN segmentation.customer_segments.response IS '1 if the customer accepted the last campaign''s offer.';
COMMENT ON COLUMN segmentation.customer_segments.distance_to_centroid IS 'Distance to the assigned centre in scaled feature space.';

CREATE TABLE IF NOT EXISTS segmentation.segment_profiles (
    run_id                    bigint           NOT NULL REFERENCES segmentation.pipeline_runs (run_id),
    model_version             integer          NOT NULL,
    segment_id                integer          NOT NULL,
    segment_name              text             NOT NULL,
    tier                      text             NOT NULL,
    customers                 integer          NOT NULL,
    share                     double precision NOT NULL,
    mean_recency_days         double precision NOT NULL,
    mean_frequency            double precision NOT NULL,
    mean_monetary             double precision NOT NULL,
    mean_tenure_days          double precision NOT NULL,
    mean_campaign_acceptances double precision NOT NULL,
    mean_income               double precision,
    mean_age                  double precision NOT NULL,
    gmv_total                 double precision NOT NULL,
    gmv_annual                double precision NOT NULL,
    gmv_annual_per_customer   double precision NOT NULL,
    response_rate             double precision NOT NULL,
    conversion_rate           double precision NOT NULL,
    recommended_action        text             NOT NULL,
    PRIMARY KEY (run_id, segment_id)
);
COMMENT ON TABLE segmentation.segment_profiles IS 'Per run and segment: size, mean features, value (GMV) and recommended action.';
COMMENT ON COLUMN segmentation.segment_profiles.run_id IS 'Run that computed the profile.';
COMMENT ON COLUMN segmentation.segment_profiles.model_version IS 'Model that assigned the segment.';
COMMENT ON COLUMN segmentation.segment_profiles.segment_id IS 'Stable segment identifier.';
COMMENT ON COLUMN segmentation.segment_profiles.segment_name IS 'Segment name.';
COMMENT ON COLUMN segmentation.segment_profiles.tier IS 'Membership tier.';
COMMENT ON COLUMN segmentation.segment_profiles.customers IS 'Customers in the segment.';
COMMENT ON COLUMN segmentation.segment_profiles.share IS 'Share of published customers (0..1).';
COMMENT ON COLUMN segmentation.segment_profiles.mean_recency_days IS 'Mean days since last purchase.';
COMMENT ON COLUMN segmentation.segment_profiles.mean_frequency IS 'Mean purchases.';
COMMENT ON COLUMN segmentation.segment_profiles.mean_monetary IS 'Mean spend over the data window (two years).';
COMMENT ON COLUMN segmentation.segment_profiles.mean_tenure_days IS 'Mean tenure in days.';
COMMENT ON COLUMN segmentation.segment_profiles.mean_campaign_acceptances IS 'Mean offers accepted.';
COMMENT ON COLUMN segmentation.segment_profiles.mean_income IS 'Mean known income.';
COMMENT ON COLUMN segmentation.segment_profiles.mean_age IS 'Mean age.';
COMMENT ON COLUMN segmentation.segment_profiles.gmv_total IS 'Total spend of the segment over the data window (two years).';
COMMENT ON COLUMN segmentation.segment_profiles.gmv_annual IS 'Total spend per year: gmv_total divided by the window in years.';
COMMENT ON COLUMN segmentation.segment_profiles.gmv_annual_per_customer IS 'Annual spend per customer; tiers are ranked by it.';
COMMENT ON COLUMN segmentation.segment_profiles.response_rate IS 'Share who accepted the last campaign offer.';
COMMENT ON COLUMN segmentation.segment_profiles.conversion_rate IS 'Mean purchases per web visit (customers with visits).';
COMMENT ON COLUMN segmentation.segment_profiles.recommended_action IS 'Recommended action for the segment''s tier.';

CREATE TABLE IF NOT EXISTS segmentation.quarantined_customers (
    run_id      bigint NOT NULL REFERENCES segmentation.pipeline_runs (run_id),
    customer_id bigint NOT NULL,
    reasons     text[] NOT NULL,
    record      jsonb  NOT NULL,
    PRIMARY KEY (run_id, customer_id)
);
COMMENT ON TABLE segmentation.quarantined_customers IS 'Customers a run set aside instead of modelling, with the reasons and the raw record.';
COMMENT ON COLUMN segmentation.quarantined_customers.run_id IS 'Run that set the customer aside.';
COMMENT ON COLUMN segmentation.quarantined_customers.customer_id IS 'Customer identifier.';
COMMENT ON COLUMN segmentation.quarantined_customers.reasons IS 'Why, e.g. missing_income, implausible_birth_year, duplicate_of:1234.';
COMMENT ON COLUMN segmentation.quarantined_customers.record IS 'The extracted record as JSON.';

-- Work tables: one run at a time uses them (advisory lock), so they are truncated per run.
CREATE SCHEMA IF NOT EXISTS segmentation_work;
COMMENT ON SCHEMA segmentation_work IS 'Scratch tables of the running pipeline (extract, features, staging). Not a public contract.';

CREATE UNLOGGED TABLE IF NOT EXISTS segmentation_work.customers_extract
    (LIKE source.customers INCLUDING DEFAULTS);
ALTER TABLE segmentation_work.customers_extract DROP COLUMN IF EXISTS load_id;
COMMENT ON TABLE segmentation_work.customers_extract IS 'The current run''s snapshot of the source, in the canonical contract.';

CREATE UNLOGGED TABLE IF NOT EXISTS segmentation_work.customer_segments_staging
    (LIKE segmentation.customer_segments INCLUDING ALL);
COMMENT ON TABLE segmentation_work.customer_segments_staging IS 'The current run''s assignments, audited before publish.';

CREATE UNLOGGED TABLE IF NOT EXISTS segmentation_work.customer_features (
    customer_id          bigint PRIMARY KEY,
    recency_days         double precision,
    frequency            double precision,
    monetary             double precision,
    tenure_days          double precision,
    campaign_acceptances double precision,
    age                  double precision,
    income               double precision,
    children_home        double precision,
    web_visits_month     double precision,
    conversion_rate      double precision,
    spend_per_purchase   double precision,
    response             smallint
);
COMMENT ON TABLE segmentation_work.customer_features IS 'The current run''s features (sql/features/customer_features.sql), validated before modelling.';
