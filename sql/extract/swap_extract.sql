-- Put the run's new extract (sql/extract/customers_extract.sql) in the place of the previous run's, in
-- the transaction that built it. (No format(): this file goes through the driver's parameter syntax.)
DROP TABLE segmentation_work.customers_extract;
ALTER TABLE segmentation_work.customers_extract_next RENAME TO customers_extract;
COMMENT ON TABLE segmentation_work.customers_extract IS 'The current run''s snapshot of the source, in the canonical contract.';
