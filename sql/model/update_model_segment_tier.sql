-- Set the tier (and its recommended action) of one segment of a stored model, before it is published.
-- Parameters: model_version, cluster_index, tier, recommended_action.
UPDATE segmentation.model_segments
SET tier = %(tier)s, recommended_action = %(recommended_action)s
WHERE model_version = %(model_version)s AND cluster_index = %(cluster_index)s;
