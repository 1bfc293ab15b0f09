-- Retire the active model when another one is activated (in the publish transaction, before
-- activate_model.sql: one model is active at a time). Parameter: model_version (the one to activate).
UPDATE segmentation.models SET status = 'retired' WHERE status = 'active' AND model_version <> %(model_version)s;
