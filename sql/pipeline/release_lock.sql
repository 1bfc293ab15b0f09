-- Release the pipeline's advisory lock taken by try_lock.sql on this session. Parameter: key.
SELECT pg_advisory_unlock(%(key)s);
