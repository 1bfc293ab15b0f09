-- The run's next extract from the pipeline's own source table, source.customers, copied whole: its columns
-- are the extract's, in their order and types, with others among them (load_id). No parameters.
--
-- tasks/extract/customers.py checks that layout first, and drops the other columns once the rows are copied;
-- the labels are canonical already, with the raw ones beside them. SELECT * copies each row whole, where a
-- list of columns takes each row apart and builds it anew, most of the work of a CREATE TABLE AS at scale.
-- Otherwise as customers_extract.sql (the source's order, PostgreSQL's bulk path; the caller swaps it in).
CREATE UNLOGGED TABLE segmentation_work.customers_extract_next WITH (autovacuum_enabled = false) AS
SELECT * FROM source.customers
