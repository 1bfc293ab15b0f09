-- The run's next extract from the pipeline's own source table, source.customers, read as it is: its
-- columns are the extract's, in their order and types, with others among them (load_id), and its labels
-- are canonical already, with the raw ones beside them (tasks/extract/customers.py checks the layout first, and
-- drops the others once the rows are copied). SELECT * copies each row whole, where a list of columns
-- takes each row apart and builds it anew: 2.5-3.5 s against 7.4-11.8 s at ten million customers. Otherwise as
-- sql/extract/customers_extract.sql (the source's order, PostgreSQL's bulk path; the caller swaps it in).
CREATE UNLOGGED TABLE segmentation_work.customers_extract_next WITH (autovacuum_enabled = false) AS
SELECT * FROM source.customers
