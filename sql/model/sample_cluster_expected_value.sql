-- Mean expected value over the next 365 days of the customers of a model's training sample, per cluster
-- (to tier a trained model's segments by it). Parameters: customer_ids, cluster_indexes (aligned arrays).
SELECT s.cluster_index, avg(v.expected_value_365d)::float8 AS expected_value_365d
FROM unnest(CAST(%(customer_ids)s AS bigint[]), CAST(%(cluster_indexes)s AS integer[]))
     AS s (customer_id, cluster_index)
JOIN segmentation_work.customer_value AS v USING (customer_id)
GROUP BY s.cluster_index
ORDER BY s.cluster_index;
