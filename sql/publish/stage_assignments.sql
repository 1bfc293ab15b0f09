-- Staged rows of segmentation.customer_segments for one range of customer ids, built in the database from
-- the run's assignments (customer id, cluster index, distance: all the model stage has to send), the
-- run's features (segmentation_work.customer_features) and the model's named segments. Parameters:
-- run_id, model_version, assigned_at, first_id and last_id (the range's first and last customer). The
-- assignments arrive in the temporary table run_assignments. {partition} is the staging partition
-- (sql/publish/staging_partition.sql). No sort: the partition's primary key is built after the load.
INSERT INTO {partition} (
    customer_id, segment_id, segment_name, tier, recommended_action, model_version, run_id, assigned_at,
    recency_days, frequency, monetary, tenure_days, campaign_acceptances, age, income, children_home,
    web_visits_month, conversion_rate, spend_per_purchase, response, distance_to_centroid)
SELECT a.customer_id, m.segment_id, m.segment_name, m.tier, m.recommended_action, m.model_version,
       %(run_id)s, %(assigned_at)s,
       f.recency_days, f.frequency, f.monetary, f.tenure_days, f.campaign_acceptances, f.age, f.income,
       f.children_home, f.web_visits_month, f.conversion_rate, f.spend_per_purchase, f.response,
       a.distance_to_centroid
FROM run_assignments AS a
JOIN segmentation_work.customer_features AS f USING (customer_id)
JOIN segmentation.model_segments AS m
  ON m.model_version = %(model_version)s AND m.cluster_index = a.cluster_index
WHERE f.customer_id BETWEEN %(first_id)s AND %(last_id)s
