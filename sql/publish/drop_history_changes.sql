-- Drop a work table of history changes (placeholder changes, made by history_changes.sql) once the publish
-- has applied it. No parameters.
DROP TABLE {changes}
