-- Record a load of an orders file in source.order_loads, before its rows are read (the row count follows
-- in finish_orders_load.sql); returns its load_id.
-- Parameters: file_name, file_sha256, delimiter, columns (a JSON object as text), currency.
INSERT INTO source.order_loads (file_name, file_sha256, delimiter, columns, currency, row_count)
VALUES (%(file_name)s, %(file_sha256)s, %(delimiter)s, %(columns)s::jsonb, %(currency)s, 0)
RETURNING load_id
