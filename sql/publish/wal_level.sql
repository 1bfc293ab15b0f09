-- The server's wal_level: at minimal, a table created and filled in one transaction skips the WAL.
-- No parameters.
SELECT current_setting('wal_level')
