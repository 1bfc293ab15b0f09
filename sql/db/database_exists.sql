-- 1 if the server has a database of the given name, else no row. Parameter: name.
-- Run on the server's postgres database, before the embedded server's own is created.
SELECT 1 FROM pg_database WHERE datname = %(name)s
