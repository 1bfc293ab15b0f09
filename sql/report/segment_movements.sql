-- Segment sizes and tiers of a run beside those of the previous run that published profiles, by stable
-- segment id, in the report's order (tier, then annual spend per customer). Parameter: run_id. A segment
-- missing on one side has 0 customers there; previous_customers, customers_delta are NULL with no previous run.
WITH previous_run AS (
    SELECT max(run_id) AS run_id FROM segmentation.segment_profiles WHERE run_id < %(run_id)s
), current_profiles AS (
    SELECT * FROM segmentation.segment_profiles WHERE run_id = %(run_id)s
), previous_profiles AS (
    SELECT * FROM segmentation.segment_profiles WHERE run_id = (SELECT run_id FROM previous_run)
)
SELECT coalesce(c.segment_id, p.segment_id) AS segment_id,
       coalesce(c.segment_name, p.segment_name) AS segment_name,
       c.tier, p.tier AS previous_tier,
       coalesce(c.customers, 0) AS customers,
       CASE WHEN r.run_id IS NOT NULL THEN coalesce(p.customers, 0) END AS previous_customers,
       CASE WHEN r.run_id IS NOT NULL THEN coalesce(c.customers, 0) - coalesce(p.customers, 0) END AS customers_delta,
       r.run_id AS previous_run_id
FROM current_profiles AS c
FULL JOIN previous_profiles AS p ON p.segment_id = c.segment_id
CROSS JOIN previous_run AS r
ORDER BY array_position(ARRAY['Platinum', 'Gold', 'Silver', 'Bronze'], coalesce(c.tier, p.tier)),
         c.gmv_annual_per_customer DESC NULLS LAST, coalesce(c.segment_id, p.segment_id);
