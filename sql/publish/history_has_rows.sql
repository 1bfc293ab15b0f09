-- Whether segmentation.segment_history has any row (a first publish finds none, and has nothing to compare).
-- No parameters.
SELECT EXISTS (SELECT 1 FROM segmentation.segment_history)
