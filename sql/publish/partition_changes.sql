-- The changes one staging partition brings (the work table, placeholder changes, of history_changes.sql),
-- for segment_history.sql's fragment changes, which reads every partition's (a UNION ALL). No parameters.
SELECT * FROM {changes}
