-- One named segment of a stored model (run once per centroid). Parameters: model_version, cluster_index,
-- segment_id, segment_name, tier, recommended_action.
INSERT INTO segmentation.model_segments (model_version, cluster_index, segment_id, segment_name, tier,
                                         recommended_action)
VALUES (%(model_version)s, %(cluster_index)s, %(segment_id)s, %(segment_name)s, %(tier)s, %(recommended_action)s);
