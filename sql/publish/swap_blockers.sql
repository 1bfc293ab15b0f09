-- The other sessions holding a lock on segmentation.customer_segments or one of its partitions, which the
-- publish's swap (sql/publish/swap_partition.sql) must hold alone for a moment: named in the log while it
-- waits for them, longest in a transaction first. No parameters.
SELECT a.pid, a.usename, a.application_name, a.state, a.xact_start, left(a.query, 200) AS query
FROM pg_stat_activity AS a
WHERE a.pid <> pg_backend_pid()
  AND EXISTS (
      SELECT 1
      FROM pg_locks AS l
      WHERE l.pid = a.pid
        AND l.granted
        AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
        AND l.relation IN (SELECT 'segmentation.customer_segments'::regclass
                           UNION ALL
                           SELECT inhrelid FROM pg_inherits
                           WHERE inhparent = 'segmentation.customer_segments'::regclass))
ORDER BY a.xact_start NULLS LAST, a.pid;
