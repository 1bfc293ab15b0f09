-- segmentation.campaign_audience: who to target and how, with how long each customer has held its tier.
CREATE OR REPLACE VIEW segmentation.campaign_audience AS
SELECT c.customer_id,
       c.segment_id,
       c.segment_name,
       c.tier,
       c.recommended_action,
       coalesce(since.valid_from, c.assigned_at) AS tier_since,
       previous.tier                              AS previous_tier,
       c.model_version,
       c.run_id
FROM segmentation.customer_segments AS c
LEFT JOIN LATERAL (
    -- The latest period in another tier.
    SELECT h.tier, h.valid_to
    FROM segmentation.segment_history AS h
    WHERE h.customer_id = c.customer_id AND h.tier <> c.tier AND h.valid_to IS NOT NULL
    ORDER BY h.valid_from DESC
    LIMIT 1
) AS previous ON true
LEFT JOIN LATERAL (
    -- The first period after it (segment changes within a tier do not reset the date).
    SELECT min(h.valid_from) AS valid_from
    FROM segmentation.segment_history AS h
    WHERE h.customer_id = c.customer_id AND h.valid_from >= coalesce(previous.valid_to, '-infinity')
) AS since ON true;
COMMENT ON VIEW segmentation.campaign_audience IS 'Campaign audience: every published customer with segment, tier, recommended action, since when it holds the tier and the tier before.';
COMMENT ON COLUMN segmentation.campaign_audience.customer_id IS 'Customer identifier.';
COMMENT ON COLUMN segmentation.campaign_audience.segment_id IS 'Stable segment identifier.';
COMMENT ON COLUMN segmentation.campaign_audience.segment_name IS 'Segment name, e.g. High-Value Frequent.';
COMMENT ON COLUMN segmentation.campaign_audience.tier IS 'Membership tier: Platinum, Gold, Silver or Bronze.';
COMMENT ON COLUMN segmentation.campaign_audience.recommended_action IS 'What marketing should do with the customer''s tier.';
COMMENT ON COLUMN segmentation.campaign_audience.tier_since IS 'When the customer entered the current tier (segment_history; the assignment time when there is no history).';
COMMENT ON COLUMN segmentation.campaign_audience.previous_tier IS 'Tier before the current one; NULL when the customer never held another.';
COMMENT ON COLUMN segmentation.campaign_audience.model_version IS 'Model that assigned the segment.';
COMMENT ON COLUMN segmentation.campaign_audience.run_id IS 'Run that published the current assignment.';
