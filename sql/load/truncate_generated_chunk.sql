-- Empty the temporary table generated_chunk (generated_tables.sql) for the next chunk of generated
-- customers. No parameters.
TRUNCATE generated_chunk
