-- Put the run's new extract (customers_extract.sql, customers_extract_whole_rows.sql) in the place of the
-- previous run's, in the transaction that built it. No parameters.
--
-- The previous one is renamed, not dropped: dropping it here made the commit wait for its files to be freed;
-- tasks.db.sql.RetiredTables drops it meanwhile, off the run's path.
DROP TABLE IF EXISTS segmentation_work.customers_extract_retired;  -- a leftover, normally dropped already
ALTER TABLE segmentation_work.customers_extract RENAME TO customers_extract_retired;
ALTER TABLE segmentation_work.customers_extract_next RENAME TO customers_extract;
COMMENT ON TABLE segmentation_work.customers_extract IS 'The current run''s snapshot of the source, in the canonical contract.';
