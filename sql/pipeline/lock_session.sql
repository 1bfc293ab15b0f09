-- Keep the session that holds the pipeline's lock from being ended for idling: it waits, idle, for the whole
-- run, and a server's idle timeouts (where the server has them) would end it and free the lock mid-run.
-- Returns the session's backend pid and start, which name it for the fence (against sql/db/advisory_lock_holder.sql).
SELECT pg_backend_pid() AS pid,
       (SELECT backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid()) AS backend_start,
       (SELECT count(set_config(name, '0', false)) FROM pg_settings
        WHERE name IN ('idle_session_timeout', 'idle_in_transaction_session_timeout')) AS timeouts_off;
