-- The changes one staging partition (placeholder partition) brings to segmentation.segment_history, into a
-- new work table (placeholder changes); fragment partition_range is the partition's constraint on
-- customer_id (pg_get_partition_constraintdef). No parameters.

-- Found before the publish transaction (tasks/publish/write_audit_publish.py runs one statement per
-- partition, at once on parallel connections; only the pipeline's publish writes the history, and the run
-- holds the pipeline's lock). One full join of the current history rows in the partition's range of ids
-- with its staged rows finds every change at once: a current row to close (the customer moved segment or
-- tier, or left: not staged) and a row to open (the customer moved, is new, or is back in the source).
-- Unchanged customers add nothing.
-- Both sides are read in customer id order (the history's index of current rows, the partition's primary
-- key) and merged: the planner would at times pick a hash full join, whose millions of rows spill to disk
-- in batches, far slower than merging.
SET LOCAL enable_hashjoin = off;
DROP TABLE IF EXISTS {changes};
CREATE UNLOGGED TABLE {changes} WITH (autovacuum_enabled = false) AS
SELECT coalesce(s.customer_id, h.customer_id) AS customer_id,
       h.customer_id IS NOT NULL AS close_current,
       s.customer_id IS NOT NULL AS open_new,
       s.segment_id, s.segment_name, s.tier, s.run_id
FROM (SELECT customer_id, segment_id, tier FROM segmentation.segment_history
      WHERE valid_to IS NULL AND {partition_range}) AS h
FULL JOIN {partition} AS s ON s.customer_id = h.customer_id
WHERE h.customer_id IS NULL OR s.customer_id IS NULL OR s.segment_id <> h.segment_id OR s.tier <> h.tier;
