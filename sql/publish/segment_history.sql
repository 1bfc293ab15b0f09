-- Keep segmentation.segment_history in step with the staged assignments, inside the publish transaction
-- and before customer_segments is overwritten. Set-based: staged rows are compared with each customer's
-- current history row, so unchanged customers add nothing and publishing the same rows again is a no-op.
-- No parameters: the run is the staged rows' run_id (the audit checked there is only one).

-- 1. Close the current row of customers whose segment or tier changed, or who left (not staged).
UPDATE segmentation.segment_history AS h
SET valid_to = now(),
    closed_by_run_id = (SELECT max(s.run_id) FROM segmentation_work.customer_segments_staging AS s)
WHERE h.valid_to IS NULL
  AND NOT EXISTS (SELECT 1 FROM segmentation_work.customer_segments_staging AS s
                  WHERE s.customer_id = h.customer_id AND s.segment_id = h.segment_id AND s.tier = h.tier);

-- 2. Open a row for every staged customer without a current one: new, moved, or back in the source.
-- Found first, inserted second: an INSERT whose own anti-join reads the index it is growing crawls (a
-- first publish of a million customers into an empty history ran for minutes).
CREATE TEMPORARY TABLE history_to_open ON COMMIT DROP AS
SELECT s.customer_id, s.segment_id, s.segment_name, s.tier, s.run_id
FROM segmentation_work.customer_segments_staging AS s
WHERE NOT EXISTS (SELECT 1 FROM segmentation.segment_history AS h
                  WHERE h.customer_id = s.customer_id AND h.valid_to IS NULL);

INSERT INTO segmentation.segment_history (customer_id, segment_id, segment_name, tier, valid_from, run_id)
SELECT customer_id, segment_id, segment_name, tier, now(), run_id
FROM history_to_open;

DROP TABLE history_to_open;
