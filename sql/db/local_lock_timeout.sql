-- How long the statements of the current transaction may wait for a lock (its lock_timeout) before they fail
-- with lock_not_available; the transaction's end restores the session's. Parameter: timeout (e.g. 1s).
SELECT set_config('lock_timeout', %(timeout)s, true);
