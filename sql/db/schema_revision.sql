-- The schema's revision: the last versioned migration applied (no row before the first). The table exists
-- once migration_history.sql ran. No parameters.
SELECT version_num FROM public.alembic_version;
