-- How many customers the run models: the rows of segmentation_work.customer_features (in its parts).
-- No parameters. No closing semicolon: it is read through ADBC (tasks.db.sql.read_arrays), as a subquery.
SELECT count(*) FROM segmentation_work.customer_features
