-- Publish the staged assignments as the current segments (inside the publish transaction).
-- Customers no longer in the source leave the table; every published row carries this run.
DELETE FROM segmentation.customer_segments AS c
WHERE NOT EXISTS (SELECT 1 FROM segmentation_work.customer_segments_staging AS s WHERE s.customer_id = c.customer_id);

INSERT INTO segmentation.customer_segments
SELECT * FROM segmentation_work.customer_segments_staging
ON CONFLICT (customer_id) DO UPDATE SET
    segment_id = excluded.segment_id, segment_name = excluded.segment_name, tier = excluded.tier,
    recommended_action = excluded.recommended_action, model_version = excluded.model_version,
    run_id = excluded.run_id, assigned_at = excluded.assigned_at, recency_days = excluded.recency_days,
    frequency = excluded.frequency, monetary = excluded.monetary, tenure_days = excluded.tenure_days,
    campaign_acceptances = excluded.campaign_acceptances, age = excluded.age, income = excluded.income,
    children_home = excluded.children_home, web_visits_month = excluded.web_visits_month,
    conversion_rate = excluded.conversion_rate, spend_per_purchase = excluded.spend_per_purchase,
    response = excluded.response, distance_to_centroid = excluded.distance_to_centroid;
