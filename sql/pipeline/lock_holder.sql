-- Who holds the pipeline's advisory lock, to name it when a run cannot start. A bigint advisory key shows
-- in pg_locks as its high (classid) and low (objid) 32 bits. Parameter: key.
SELECT a.pid, a.application_name, a.backend_start
FROM pg_locks AS l
JOIN pg_stat_activity AS a ON a.pid = l.pid
WHERE l.locktype = 'advisory'
  AND l.classid = (CAST(%(key)s AS bigint) >> 32)::oid
  AND l.objid = (CAST(%(key)s AS bigint) & 4294967295)::oid
  AND l.granted
LIMIT 1;
