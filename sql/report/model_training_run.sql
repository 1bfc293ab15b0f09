-- The run that trained a model version (NULL for a model no run trained), for the report's model section.
-- Parameter: model_version.
SELECT run_id
FROM segmentation.models
WHERE model_version = %(model_version)s
