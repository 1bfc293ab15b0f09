-- segmentation.tier_movements: customers whose tier changed between the last two runs that published.
-- A run has published when its publish transaction committed, which also wrote its segment_profiles.
CREATE OR REPLACE VIEW segmentation.tier_movements AS
WITH published_runs AS (
    SELECT DISTINCT run_id FROM segmentation.segment_profiles ORDER BY run_id DESC LIMIT 2
), latest AS (
    SELECT max(run_id) AS run_id, CASE WHEN count(*) = 2 THEN min(run_id) END AS previous_run_id
    FROM published_runs
), tier_rank (tier, rank) AS (
    VALUES ('Bronze', 1), ('Silver', 2), ('Gold', 3), ('Platinum', 4)
)
SELECT moved_to.customer_id,
       moved_from.tier                                                   AS from_tier,
       moved_to.tier                                                     AS to_tier,
       CASE WHEN to_rank.rank > from_rank.rank THEN 'up' ELSE 'down' END AS direction,
       moved_from.segment_name                                           AS from_segment_name,
       moved_to.segment_name                                             AS to_segment_name,
       latest.previous_run_id,
       latest.run_id,
       moved_to.valid_from                                               AS moved_at
FROM latest
JOIN segmentation.segment_history AS moved_to ON moved_to.run_id = latest.run_id
JOIN segmentation.segment_history AS moved_from
  ON moved_from.customer_id = moved_to.customer_id AND moved_from.closed_by_run_id = latest.run_id
JOIN tier_rank AS from_rank ON from_rank.tier = moved_from.tier
JOIN tier_rank AS to_rank ON to_rank.tier = moved_to.tier
WHERE latest.previous_run_id IS NOT NULL AND moved_from.tier <> moved_to.tier;
COMMENT ON VIEW segmentation.tier_movements IS 'Customers whose tier changed between the last two runs that published, with direction (up or down).';
COMMENT ON COLUMN segmentation.tier_movements.customer_id IS 'Customer identifier.';
COMMENT ON COLUMN segmentation.tier_movements.from_tier IS 'Tier after the previous publishing run.';
COMMENT ON COLUMN segmentation.tier_movements.to_tier IS 'Tier after the latest publishing run.';
COMMENT ON COLUMN segmentation.tier_movements.direction IS 'up (towards Platinum) or down (towards Bronze).';
COMMENT ON COLUMN segmentation.tier_movements.from_segment_name IS 'Segment before the move.';
COMMENT ON COLUMN segmentation.tier_movements.to_segment_name IS 'Segment after the move.';
COMMENT ON COLUMN segmentation.tier_movements.previous_run_id IS 'The previous run that published.';
COMMENT ON COLUMN segmentation.tier_movements.run_id IS 'The latest run that published.';
COMMENT ON COLUMN segmentation.tier_movements.moved_at IS 'When the latest run''s publish committed.';
