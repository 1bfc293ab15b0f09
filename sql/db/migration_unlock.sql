-- Release the migrations' advisory lock taken by migration_lock.sql on this session. Parameter: key.
SELECT pg_advisory_unlock(%(key)s);
