-- Take the migrations' advisory lock for this session, waiting while another upgrade holds it: concurrent
-- upgrades run one after the other. Parameter: key.
SELECT pg_advisory_lock(%(key)s);
