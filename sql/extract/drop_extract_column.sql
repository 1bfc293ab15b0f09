-- Drop a column of the run's next extract that the source has and the extract does not (copied with the
-- whole rows by customers_extract_whole_rows.sql): a drop that leaves the rows as they are. Identifier: column.
ALTER TABLE segmentation_work.customers_extract_next DROP COLUMN {column}
