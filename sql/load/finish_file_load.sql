-- Complete a file's row of source.loads (start_file_load.sql) once its rows are in. Parameters: load_id,
-- date_format, label_language, currency, snapshot_date, row_count.
UPDATE source.loads
SET date_format = %(date_format)s, label_language = %(label_language)s, currency = %(currency)s,
    snapshot_date = %(snapshot_date)s, row_count = %(row_count)s
WHERE load_id = %(load_id)s
