-- Evidence of every run's validation: one row per expectation evaluated.
CREATE TABLE IF NOT EXISTS segmentation.validation_results (
    run_id           bigint  NOT NULL REFERENCES segmentation.pipeline_runs (run_id),
    suite            text    NOT NULL,
    severity         text    NOT NULL CHECK (severity IN ('contract', 'row')),
    expectation      text    NOT NULL,
    column_name      text,
    success          boolean NOT NULL,
    unexpected_count bigint,
    sample_values    jsonb   NOT NULL DEFAULT '[]',
    observed_value   jsonb,
    action           text    NOT NULL,
    position         integer NOT NULL,
    PRIMARY KEY (run_id, suite, position)
);
COMMENT ON TABLE segmentation.validation_results IS 'Great Expectations results of each run: expectation, success, unexpected count and a bounded sample of failing values.';
COMMENT ON COLUMN segmentation.validation_results.run_id IS 'Run that validated.';
COMMENT ON COLUMN segmentation.validation_results.suite IS 'Suite name (expectations/<suite>.json).';
COMMENT ON COLUMN segmentation.validation_results.severity IS 'contract (a failure stops the run) or row (failing customers are quarantined).';
COMMENT ON COLUMN segmentation.validation_results.expectation IS 'Expectation type, e.g. expect_column_values_to_be_unique.';
COMMENT ON COLUMN segmentation.validation_results.column_name IS 'Column checked, in the canonical contract.';
COMMENT ON COLUMN segmentation.validation_results.success IS 'Whether the expectation held.';
COMMENT ON COLUMN segmentation.validation_results.unexpected_count IS 'Rows that broke it.';
COMMENT ON COLUMN segmentation.validation_results.sample_values IS 'A few failing values (bounded).';
COMMENT ON COLUMN segmentation.validation_results.observed_value IS 'Observed value for table-level expectations (row count, column types).';
COMMENT ON COLUMN segmentation.validation_results.action IS 'What the run did about a failure: stopped, quarantined, kept (recipe keeps such rows) or none.';
COMMENT ON COLUMN segmentation.validation_results.position IS 'Order of the expectation in its suite.';
