-- Who holds an advisory lock of this database, to name it when a session cannot take it: backend pid, role,
-- application, when it connected, and whether its role may record pipeline runs (NULL before the schema
-- exists). A bigint key shows in pg_locks as its high (classid) and low (objid) 32 bits. Parameter: key.
SELECT a.pid, a.usename, a.application_name, a.backend_start,
       has_table_privilege(a.usesysid, to_regclass('segmentation.pipeline_runs'), 'INSERT') AS may_record_runs
FROM pg_locks AS l
JOIN pg_stat_activity AS a ON a.pid = l.pid
WHERE l.locktype = 'advisory'
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND l.classid = (CAST(%(key)s AS bigint) >> 32)::oid
  AND l.objid = (CAST(%(key)s AS bigint) & 4294967295)::oid
  AND l.objsubid = 1
  AND l.granted
LIMIT 1;
