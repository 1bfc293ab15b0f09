-- Record a load of generated customers in source.loads, as a file's load would be; returns its load_id.
-- Parameters: file_name, file_sha256 (of the generator's recipe), currency, snapshot_date, row_count.
INSERT INTO source.loads (file_name, file_sha256, delimiter, date_format, label_language, currency,
                          snapshot_date, row_count)
VALUES (%(file_name)s, %(file_sha256)s, '', 'yyyy-mm-dd', 'canonical', %(currency)s, %(snapshot_date)s,
        %(row_count)s)
RETURNING load_id
