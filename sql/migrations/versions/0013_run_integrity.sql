-- Run integrity under faults (issue 33): runs that died are marked abandoned by the next run, a report's
-- failure is kept apart from its run's status, an expectation that could not be evaluated is an error, not
-- a failed check, and the source's values the pipeline keeps move out of the reader role's reach.

-- A run left running by a process that ended without finishing it (killed, or its lock session lost) is
-- marked abandoned by the next run, which holds the pipeline lock, so no running run can be alive then.
ALTER TABLE segmentation.pipeline_runs DROP CONSTRAINT IF EXISTS pipeline_runs_status_check;
ALTER TABLE segmentation.pipeline_runs ADD CONSTRAINT pipeline_runs_status_check
    CHECK (status IN ('running', 'succeeded', 'failed', 'abandoned'));
ALTER TABLE segmentation.pipeline_runs
    ADD COLUMN IF NOT EXISTS stage text,
    ADD COLUMN IF NOT EXISTS report_error text,
    ADD COLUMN IF NOT EXISTS abandoned_by_run_id bigint;
COMMENT ON COLUMN segmentation.pipeline_runs.status IS 'running, succeeded (published, or a dry run that passed its audit), failed, or abandoned (left running by a process that ended without finishing it; marked by the next run).';
COMMENT ON COLUMN segmentation.pipeline_runs.stage IS 'The stage the run started last: where a running run is, where a finished or abandoned one stopped.';
COMMENT ON COLUMN segmentation.pipeline_runs.report_error IS 'Why the report failed after the run had published (the run stays succeeded: its segments are the published ones); NULL when it did not.';
COMMENT ON COLUMN segmentation.pipeline_runs.abandoned_by_run_id IS 'For a run found left running (abandoned, or succeeded when its publish had committed), the run that found it and marked it.';
COMMENT ON COLUMN segmentation.pipeline_runs.finished_at IS 'When the run ended; for an abandoned run, when the next run marked it.';
COMMENT ON COLUMN segmentation.pipeline_runs.failed_stage IS 'Stage that failed, for a failed run; the stage an abandoned run was in.';
COMMENT ON COLUMN segmentation.pipeline_runs.error IS 'Error message, for a failed run; why it was marked, for an abandoned one.';

-- Values from the source (quarantined customers' records, failing sample values) in a schema of their own,
-- which segments_reader is not granted: campaign tools need their counts, not the rows.
CREATE SCHEMA IF NOT EXISTS segmentation_restricted;
COMMENT ON SCHEMA segmentation_restricted IS 'What the pipeline keeps of the source for its operators: quarantined customers with their records, validation results with failing values. Not granted to segments_reader, which reads their counts in segmentation.quarantine_reasons and segmentation.validation_outcomes.';
ALTER TABLE IF EXISTS segmentation.quarantined_customers SET SCHEMA segmentation_restricted;
ALTER TABLE IF EXISTS segmentation.validation_results SET SCHEMA segmentation_restricted;
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'segments_reader') THEN
        -- The tables kept the grants they had in segmentation: none of them is the reader's now.
        REVOKE ALL ON segmentation_restricted.quarantined_customers, segmentation_restricted.validation_results
            FROM segments_reader;
        REVOKE ALL ON SCHEMA segmentation_restricted FROM segments_reader;
    END IF;
END
$$;
COMMENT ON TABLE segmentation_restricted.quarantined_customers IS 'Customers a run set aside instead of modelling, with the reasons and the raw record (not for segments_reader: segmentation.quarantine_reasons counts them).';
COMMENT ON COLUMN segmentation.pipeline_runs.rows_quarantined IS 'Customers set aside by validation (segmentation_restricted.quarantined_customers).';

-- An expectation GX could not evaluate (its query failed, e.g. the connection dropped) neither held nor
-- failed: success is NULL and error says why.
ALTER TABLE segmentation_restricted.validation_results ALTER COLUMN success DROP NOT NULL;
ALTER TABLE segmentation_restricted.validation_results ADD COLUMN IF NOT EXISTS error text;
COMMENT ON TABLE segmentation_restricted.validation_results IS 'Great Expectations results of each run: expectation, success, unexpected count and a bounded sample of failing values (not for segments_reader: segmentation.validation_outcomes leaves the values out).';
COMMENT ON COLUMN segmentation_restricted.validation_results.success IS 'Whether the expectation held; NULL when it could not be evaluated (see error).';
COMMENT ON COLUMN segmentation_restricted.validation_results.error IS 'Why the expectation could not be evaluated (e.g. the connection dropped); NULL when it was.';

-- What segments_reader reads of them: counts and outcomes without the source's values. Views of this
-- migration rather than repeatable files (sql/views/): they read tables this migration moves, which a
-- repeatable file, applied at every revision, could not count on.

-- segmentation.quarantine_reasons: how many customers each run quarantined for each reason, for readers
-- of segmentation (segments_reader), who are not granted the customers or their records
-- (segmentation_restricted.quarantined_customers). A duplicate's reason is counted without its id.
CREATE OR REPLACE VIEW segmentation.quarantine_reasons AS
SELECT q.run_id, split_part(reason, ':', 1) AS reason, count(*) AS customers
FROM segmentation_restricted.quarantined_customers AS q
CROSS JOIN LATERAL unnest(q.reasons) AS reason
GROUP BY q.run_id, split_part(reason, ':', 1);
COMMENT ON VIEW segmentation.quarantine_reasons IS 'Per run and reason, how many customers validation set aside (counts only: the customers and their records are in segmentation_restricted).';
COMMENT ON COLUMN segmentation.quarantine_reasons.run_id IS 'Run that set the customers aside.';
COMMENT ON COLUMN segmentation.quarantine_reasons.reason IS 'Why, e.g. missing_income, implausible_birth_year, duplicate_of (without the id).';
COMMENT ON COLUMN segmentation.quarantine_reasons.customers IS 'How many of the run''s quarantined customers have this reason (a customer may have several).';

-- segmentation.validation_outcomes: each run's expectations and whether they held, with their counts, for
-- readers of segmentation (segments_reader); the failing values and observed values, which come from the
-- source, stay in segmentation_restricted.validation_results.
CREATE OR REPLACE VIEW segmentation.validation_outcomes AS
SELECT run_id, suite, position, severity, expectation, column_name, success, unexpected_count, action
FROM segmentation_restricted.validation_results;
COMMENT ON VIEW segmentation.validation_outcomes IS 'Great Expectations outcomes of each run without the source''s values: expectation, whether it held, how many rows broke it, what the run did.';
COMMENT ON COLUMN segmentation.validation_outcomes.run_id IS 'Run that validated.';
COMMENT ON COLUMN segmentation.validation_outcomes.suite IS 'Suite name (expectations/<suite>.json).';
COMMENT ON COLUMN segmentation.validation_outcomes.position IS 'Order of the expectation in its suite.';
COMMENT ON COLUMN segmentation.validation_outcomes.severity IS 'contract (a failure stops the run) or row (failing customers are quarantined).';
COMMENT ON COLUMN segmentation.validation_outcomes.expectation IS 'Expectation type, e.g. expect_column_values_to_be_unique.';
COMMENT ON COLUMN segmentation.validation_outcomes.column_name IS 'Column or columns checked, in the canonical contract.';
COMMENT ON COLUMN segmentation.validation_outcomes.success IS 'Whether the expectation held; NULL when it could not be evaluated.';
COMMENT ON COLUMN segmentation.validation_outcomes.unexpected_count IS 'Rows that broke it.';
COMMENT ON COLUMN segmentation.validation_outcomes.action IS 'What the run did about a failure: stopped, quarantined, kept, imputed or none.';
