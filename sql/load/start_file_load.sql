-- Record a load of a customers file in source.loads, with what is known before its rows are read (the rest:
-- finish_file_load.sql); returns its load_id. Parameters: file_name, file_sha256, delimiter.
INSERT INTO source.loads (file_name, file_sha256, delimiter, date_format, label_language, currency,
                          snapshot_date, row_count)
VALUES (%(file_name)s, %(file_sha256)s, %(delimiter)s, '', '', '', CURRENT_DATE, 0)
RETURNING load_id
