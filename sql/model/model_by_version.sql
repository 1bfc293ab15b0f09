-- One model's row of segmentation.models, whatever its status (a report reads the model of its run).
-- Parameter: model_version.
SELECT * FROM segmentation.models WHERE model_version = %(model_version)s;
