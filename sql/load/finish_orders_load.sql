-- Complete an orders file's row of source.order_loads (start_orders_load.sql) once its rows are in.
-- Parameters: load_id, row_count.
UPDATE source.order_loads SET row_count = %(row_count)s WHERE load_id = %(load_id)s
