-- The named segments of one model (segmentation.model_segments), in the order of its centroids.
-- Parameter: model_version.
SELECT cluster_index, segment_id, segment_name, tier, recommended_action
FROM segmentation.model_segments WHERE model_version = %(model_version)s ORDER BY cluster_index;
