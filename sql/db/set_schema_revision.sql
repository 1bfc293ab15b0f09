-- Record the revision a versioned migration brought the schema to, in its transaction: the version table
-- holds one row. Parameter: revision (text, e.g. 0012).
WITH superseded AS (DELETE FROM public.alembic_version)
INSERT INTO public.alembic_version (version_num) VALUES (%(revision)s);
