-- The next unused segment id, for a newly trained model's new segments (segment ids are never reused
-- across models). No parameters.
SELECT coalesce(max(segment_id), 0) + 1 FROM segmentation.model_segments;
