-- The run's features in customer id order, read through ADBC (tasks.db.sql.read_arrays). The placeholder
-- columns is the select list (customer_id and the wanted features; NULL as NaN). No parameters. No
-- closing semicolon: ADBC reads it as a subquery.
SELECT {columns} FROM segmentation_work.customer_features ORDER BY customer_id
