-- Statistics of segmentation.model_segments (a handful of rows autovacuum never analyses) for the plans of
-- the statements that join it to the staged customers. No parameters.
ANALYZE segmentation.model_segments
