-- Keep one expectation's outcome of a run in segmentation_restricted.validation_results (once: a run's
-- outcome stored again is left as it is, unless the stored one could not be evaluated, as when a retried
-- stage evaluates it this time). Parameters: run_id, suite, severity, expectation, column_name, success
-- (NULL: not evaluated), unexpected_count, sample_values and observed_value (JSON text), action, position
-- (in its suite), error (why it could not be evaluated, or NULL).
INSERT INTO segmentation_restricted.validation_results AS stored (
    run_id, suite, severity, expectation, column_name, success, unexpected_count, sample_values,
    observed_value, action, position, error)
VALUES (%(run_id)s, %(suite)s, %(severity)s, %(expectation)s, %(column_name)s, %(success)s,
        %(unexpected_count)s, CAST(%(sample_values)s AS jsonb), CAST(%(observed_value)s AS jsonb), %(action)s,
        %(position)s, %(error)s)
ON CONFLICT (run_id, suite, position) DO UPDATE
    SET severity = excluded.severity, expectation = excluded.expectation, column_name = excluded.column_name,
        success = excluded.success, unexpected_count = excluded.unexpected_count,
        sample_values = excluded.sample_values, observed_value = excluded.observed_value,
        action = excluded.action, error = excluded.error
    WHERE stored.success IS NULL;
