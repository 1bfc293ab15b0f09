-- Make a model the active one (in the publish transaction, after retire_active_model.sql).
-- Parameter: model_version.
UPDATE segmentation.models SET status = 'active' WHERE model_version = %(model_version)s;
