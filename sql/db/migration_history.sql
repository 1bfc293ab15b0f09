-- The migration runner's bookkeeping in public, created when missing (tasks/db/migrations.py): the schema's
-- revision in Alembic's version table, kept as Alembic laid it out so databases it migrated carry on, and
-- the checksum of each repeatable object's file as last applied. No parameters.
CREATE TABLE IF NOT EXISTS public.alembic_version (
    version_num varchar(32) NOT NULL,
    CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
);
COMMENT ON TABLE public.alembic_version IS 'The schema''s revision: one row, the number of the last versioned migration applied (sql/migrations/versions/NNNN_name.sql). Alembic''s layout, which databases it migrated already have.';
COMMENT ON COLUMN public.alembic_version.version_num IS 'Revision, e.g. 0012.';

CREATE TABLE IF NOT EXISTS public.repeatable_objects (
    file_name  text        PRIMARY KEY,
    checksum   text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE public.repeatable_objects IS 'Views and functions kept one per CREATE OR REPLACE file under sql/, applied after the versioned migrations: the file each was last applied from, so that a changed file is applied again.';
COMMENT ON COLUMN public.repeatable_objects.file_name IS 'The file, relative to sql/, e.g. views/campaign_audience.sql.';
COMMENT ON COLUMN public.repeatable_objects.checksum IS 'SHA-256 (hex) of the file''s text as last applied.';
COMMENT ON COLUMN public.repeatable_objects.applied_at IS 'When the file was last applied.';
