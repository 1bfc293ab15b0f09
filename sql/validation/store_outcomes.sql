-- Keep one expectation's outcome of a run in segmentation.validation_results (once: a run's outcome
-- stored again is left as it is). Parameters: run_id, suite, severity, expectation, column_name, success,
-- unexpected_count, sample_values and observed_value (JSON text), action, position (in its suite).
INSERT INTO segmentation.validation_results (
    run_id, suite, severity, expectation, column_name, success, unexpected_count, sample_values,
    observed_value, action, position)
VALUES (%(run_id)s, %(suite)s, %(severity)s, %(expectation)s, %(column_name)s, %(success)s,
        %(unexpected_count)s, CAST(%(sample_values)s AS jsonb), CAST(%(observed_value)s AS jsonb), %(action)s,
        %(position)s)
ON CONFLICT (run_id, suite, position) DO NOTHING;
