-- How long the statements of the current transaction may wait for a lock (its lock_timeout) before they fail
-- with lock_not_available; the transaction's end restores the session's. Parameter: timeout (an interval, as text).
SELECT set_config('lock_timeout', %(timeout)s, true);
