-- For the rest of the transaction, have the kernel write this backend's new pages to disk as they come
-- (every 512 kB) rather than all at the commit's fsync. No parameters.
SET LOCAL backend_flush_after = '512kB'
