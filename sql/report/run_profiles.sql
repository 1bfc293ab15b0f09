-- A run's segment profiles in the report's segment order: tier (Platinum first), then annual spend per
-- customer. Parameter: run_id.
SELECT *
FROM segmentation.segment_profiles
WHERE run_id = %(run_id)s
ORDER BY array_position(ARRAY['Platinum', 'Gold', 'Silver', 'Bronze'], tier), gmv_annual_per_customer DESC
