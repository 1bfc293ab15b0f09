-- The active model's row of segmentation.models: the one publish activated last (none before the first).
-- No parameters.
SELECT * FROM segmentation.models WHERE status = 'active';
