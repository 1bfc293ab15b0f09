-- What the run summary shows of the model a run used: its recipe, features, metrics and training rows.
-- Parameter: model_version.
SELECT model_version, recipe_name, features, metrics, training_rows
FROM segmentation.models
WHERE model_version = %(model_version)s
