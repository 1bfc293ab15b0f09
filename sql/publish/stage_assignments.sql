-- Stage one range of customer ids: a new staging partition (placeholder partition) of the run's modelled
-- customers placed by the model, in segmentation.customer_segments' columns. Fragments: id_range, scaled,
-- partial, nearest, cluster_index. Parameters: run_id, model_version, assigned_at, lower/upper, the model's.

-- The customers are segmentation_work.customer_features in the range of ids (id_range, a condition on
-- customer_id with the range's bounds lower and upper), placed by the model in the database, with the
-- model's named segments. tasks/model/scoring.py writes the model as the select lists of three levels, each
-- computed once per customer (OFFSET 0 keeps a level from being merged into the next, which would repeat it
-- per use): s, the customer in the model's scaled space (scaled_0, scaled_1, ...); p, its squared norm
-- (squared_norm) and, per centroid, |c|^2 - 2 x.c (partial_0, ...); n, the least of those (least_partial).
-- The segment is the first centroid whose partial is the least (numpy's argmin: cluster_index). The model's
-- numbers are its parameters. CREATE TABLE AS rather than INSERT: it writes through PostgreSQL's bulk path
-- (faster than INSERT ... SELECT at millions of rows), and a table created and filled in one transaction
-- skips the WAL on a server with wal_level minimal (the embedded one). sql/publish/staging_partition.sql
-- then adds what the partition must share with customer_segments; sql/publish/staging_table.sql dropped an
-- earlier run's partitions. No sort: the partition's primary key is built after the load. Without
-- autovacuum, here and once published: the run analyses the rows it writes, the next run replaces them, and
-- an autovacuum busy on them held up each DETACH and ATTACH (until PostgreSQL cancels it) while using the
-- cores the run needs.
CREATE TABLE {partition} WITH (autovacuum_enabled = false) AS
SELECT n.customer_id, m.segment_id, m.segment_name, m.tier, m.recommended_action, m.model_version,
       CAST(%(run_id)s AS bigint) AS run_id, CAST(%(assigned_at)s AS timestamptz) AS assigned_at,
       n.recency_days, n.frequency, n.monetary, n.tenure_days, n.campaign_acceptances, n.age, n.income,
       n.children_home, n.web_visits_month, n.conversion_rate, n.spend_per_purchase, n.response,
       sqrt(greatest(n.squared_norm + n.least_partial, 0)) AS distance_to_centroid,
       v.p_alive, v.expected_purchases_365d, v.expected_value_365d
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
-- The predicted value of an orders run (segmentation_work.customer_value; empty for a profile run), read for
-- the same range of ids only: joined whole, each range's statement hashed every customer's value.
LEFT JOIN (
    SELECT * FROM segmentation_work.customer_value WHERE {id_range}
) AS v ON v.customer_id = n.customer_id
