-- Whether the pipeline's advisory lock is still held by the session that took it for this run (its backend
-- pid and start: a pid may be reused), asked from another session: the fence a run passes before it
-- publishes. A bigint key shows in pg_locks as its high (classid) and low (objid) 32 bits.
-- Parameters: key, pid, backend_start.
SELECT EXISTS (
    SELECT 1
    FROM pg_locks AS l
    JOIN pg_stat_activity AS a ON a.pid = l.pid
    WHERE l.locktype = 'advisory'
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND l.classid = (CAST(%(key)s AS bigint) >> 32)::oid
      AND l.objid = (CAST(%(key)s AS bigint) & 4294967295)::oid
      AND l.objsubid = 1
      AND l.granted
      AND l.pid = %(pid)s
      AND a.backend_start = %(backend_start)s
);
