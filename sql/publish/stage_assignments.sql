-- Staged rows of segmentation.customer_segments for one range of customer ids: the run's modelled customers
-- (segmentation_work.customer_features) placed by the model in the database, with the model's named
-- segments. tasks/scoring.py writes the model as the select lists of three levels, each computed once per
-- customer (OFFSET 0 keeps a level from being merged into the next, which would repeat it per use): s, the
-- customer in the model's scaled space (scaled_0, scaled_1, ...); p, its squared norm (squared_norm) and,
-- per centroid, |c|^2 - 2 x.c (partial_0, ...); n, the least of those (least_partial). The segment is the
-- first centroid whose partial is the least (numpy's argmin). The placeholders in braces are that SQL, the
-- staging partition (sql/publish/staging_partition.sql) and its range of ids (integers). Parameters:
-- run_id, model_version, assigned_at, and the model's numbers. No sort: the partition's primary key is
-- built after the load.
INSERT INTO {partition} (
    customer_id, segment_id, segment_name, tier, recommended_action, model_version, run_id, assigned_at,
    recency_days, frequency, monetary, tenure_days, campaign_acceptances, age, income, children_home,
    web_visits_month, conversion_rate, spend_per_purchase, response, distance_to_centroid)
SELECT n.customer_id, m.segment_id, m.segment_name, m.tier, m.recommended_action, m.model_version,
       %(run_id)s, %(assigned_at)s,
       n.recency_days, n.frequency, n.monetary, n.tenure_days, n.campaign_acceptances, n.age, n.income,
       n.children_home, n.web_visits_month, n.conversion_rate, n.spend_per_purchase, n.response,
       sqrt(greatest(n.squared_norm + n.least_partial, 0))
FROM (
    SELECT p.*, {nearest}
    FROM (
        SELECT s.*, {partial}
        FROM (
            SELECT f.*, {scaled}
            FROM segmentation_work.customer_features AS f
            WHERE {id_range}
            OFFSET 0
        ) AS s
        OFFSET 0
    ) AS p
    OFFSET 0
) AS n
JOIN segmentation.model_segments AS m
  ON m.model_version = %(model_version)s AND m.cluster_index = {cluster_index}
