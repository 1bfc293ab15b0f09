-- Each run records the currency of the amounts it read (issue 32): a source mapping's `currency:`, else the
-- latest load's. The run's report and summary show that one, not whatever was loaded last.
ALTER TABLE segmentation.pipeline_runs ADD COLUMN IF NOT EXISTS currency text;
COMMENT ON COLUMN segmentation.pipeline_runs.currency IS 'Currency of the amounts the run read: its source mapping''s, else its load''s; NULL for runs from before it was recorded (their reports use the latest load''s).';
