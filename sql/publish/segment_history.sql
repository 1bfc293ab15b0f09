-- Keep segmentation.segment_history in step with the staged assignments, inside the publish transaction,
-- from the changes found beforehand (fragment changes: a query of them; fragment order: ORDER BY
-- customer_id, or nothing). No parameters: the run is the staged rows' run (the audit checked it is one).

-- The changes are sql/publish/history_changes.sql's work tables (a UNION ALL), or on a first publish every
-- staged customer (sql/publish/first_publish_changes.sql). Unchanged customers add nothing, so publishing
-- the same rows again is a no-op. Found first, applied second: an INSERT whose own anti-join reads the
-- index it is growing crawls, as a first publish of a million customers into an empty history did.

-- 1. Close the current rows of customers who moved or left.
UPDATE segmentation.segment_history AS h
SET valid_to = now(),
    closed_by_run_id = (SELECT s.run_id FROM segmentation_work.customer_segments_staging AS s LIMIT 1)
FROM ({changes}) AS c
WHERE c.close_current AND h.customer_id = c.customer_id AND h.valid_to IS NULL;

-- 2. Open a row for every staged customer who moved, is new, or is back. In customer id order when the
-- history's indexes are in place (the full join returns the rows in hash order, and insertions at random
-- places of the indexes are much slower than in order); unordered when they are built afterwards (a first
-- publish, into an empty history: sorting ten million rows would be wasted).
INSERT INTO segmentation.segment_history (customer_id, segment_id, segment_name, tier, valid_from, run_id)
SELECT customer_id, segment_id, segment_name, tier, now(), run_id
FROM ({changes}) AS c
WHERE open_new
{order};
