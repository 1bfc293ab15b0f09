-- A quarantined customer's record is stored as json (the text of row_to_json) instead of jsonb. The
-- quarantine writes every failing customer's record each run, and building the records as jsonb is much
-- slower than as json (to_jsonb looks up each column's type and parses every number back). The record
-- is read by people and by ->> (which json has too), in the extract's column order, which json keeps.
ALTER TABLE segmentation.quarantined_customers ALTER COLUMN record TYPE json USING record::json;
COMMENT ON COLUMN segmentation.quarantined_customers.record IS 'The extracted record as JSON (json: the columns in the extract''s order).';
