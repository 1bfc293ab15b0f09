-- Take the migrations' advisory lock for this session, waiting while another upgrade holds it, for no longer
-- than the transaction's lock_timeout (sql/db/local_lock_timeout.sql): the caller tries again, bounded, and
-- names the holder. Parameter: key.
SELECT pg_advisory_lock(%(key)s);
