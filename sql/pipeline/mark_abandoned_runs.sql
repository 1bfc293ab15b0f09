-- Mark the runs left running, by the run that has just taken the pipeline lock: a run holds the lock from
-- before its row is written until it ends, so the process of any other running run ended without finishing
-- it (or lost its lock, and is fenced off from publishing). One whose publish had committed (its profiles
-- are written in the publish transaction) succeeded, without a report; the others are abandoned, at the
-- stage they were in. Returns them. Parameter: run_id (the run marking them).
UPDATE segmentation.pipeline_runs AS r
SET status = CASE WHEN left_running.published IS NULL THEN 'abandoned' ELSE 'succeeded' END,
    finished_at = now(),
    abandoned_by_run_id = %(run_id)s,
    failed_stage = CASE WHEN left_running.published IS NULL THEN r.stage END,
    error = CASE WHEN left_running.published IS NULL THEN
        'left running: its process ended without finishing it (killed, or its database session and with it '
        || 'the pipeline lock were lost) before run ' || CAST(%(run_id)s AS text) || ' took the pipeline lock'
    END,
    rows_published = coalesce(r.rows_published, left_running.published),
    report_error = CASE WHEN left_running.published IS NOT NULL THEN
        'no report: the run''s process ended after its publish had committed (found by run '
        || CAST(%(run_id)s AS text) || ')'
    END
FROM (
    SELECT running.run_id,
           (SELECT sum(p.customers) FROM segmentation.segment_profiles AS p WHERE p.run_id = running.run_id)
               AS published
    FROM segmentation.pipeline_runs AS running
    WHERE running.status = 'running' AND running.run_id < %(run_id)s
) AS left_running
WHERE r.run_id = left_running.run_id
RETURNING r.run_id, r.started_at, r.stage, r.status;
