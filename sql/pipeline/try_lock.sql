-- Take the pipeline's advisory lock (one run per database) if it is free; true when taken. Parameter: key.
SELECT pg_try_advisory_lock(%(key)s);
