-- One label pair of the sample into the temporary table generated_labels (generated_tables.sql), by code.
-- Parameters: field, code, canonical, raw.
INSERT INTO generated_labels (field, code, canonical, raw)
VALUES (%(field)s, %(code)s, %(canonical)s, %(raw)s)
