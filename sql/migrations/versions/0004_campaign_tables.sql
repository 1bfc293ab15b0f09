-- Tables and privileges for campaign tools: segment history, the read-only consumer role.
-- The views (sql/views/) and scoring functions (sql/model/) are repeatable objects, applied after the
-- versioned migrations (tasks/db/migrations.py).

CREATE TABLE IF NOT EXISTS segmentation.segment_history (
    customer_id      bigint      NOT NULL,
    segment_id       integer     NOT NULL,
    segment_name     text        NOT NULL,
    tier             text        NOT NULL,
    valid_from       timestamptz NOT NULL,
    valid_to         timestamptz,
    run_id           bigint      NOT NULL,
    closed_by_run_id bigint,
    PRIMARY KEY (customer_id, valid_from),
    CHECK (valid_to IS NULL OR valid_to >= valid_from)
);
-- At most one current row per customer; also the lookup publish uses to compare staged rows.
CREATE UNIQUE INDEX IF NOT EXISTS segment_history_current ON segmentation.segment_history (customer_id)
    WHERE valid_to IS NULL;
CREATE INDEX IF NOT EXISTS segment_history_closed_by_run ON segmentation.segment_history (closed_by_run_id)
    WHERE closed_by_run_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS segment_history_run ON segmentation.segment_history (run_id);
COMMENT ON TABLE segmentation.segment_history IS 'Each customer''s segment and tier over time: one row per customer per change of segment or tier (type-2 history), maintained by publish.';
COMMENT ON COLUMN segmentation.segment_history.customer_id IS 'Customer identifier.';
COMMENT ON COLUMN segmentation.segment_history.segment_id IS 'Stable segment identifier during this period.';
COMMENT ON COLUMN segmentation.segment_history.segment_name IS 'Segment name during this period.';
COMMENT ON COLUMN segmentation.segment_history.tier IS 'Membership tier during this period: Platinum, Gold, Silver or Bronze.';
COMMENT ON COLUMN segmentation.segment_history.valid_from IS 'When the publish that placed the customer here committed (transaction time).';
COMMENT ON COLUMN segmentation.segment_history.valid_to IS 'When a later publish moved the customer on or the customer left the source; NULL for the current row.';
COMMENT ON COLUMN segmentation.segment_history.run_id IS 'Run that opened the row.';
COMMENT ON COLUMN segmentation.segment_history.closed_by_run_id IS 'Run that closed the row; NULL for the current row.';

-- Customers published before this migration start their history at their last assignment.
INSERT INTO segmentation.segment_history (customer_id, segment_id, segment_name, tier, valid_from, run_id)
SELECT c.customer_id, c.segment_id, c.segment_name, c.tier, c.assigned_at, c.run_id
FROM segmentation.customer_segments AS c
WHERE NOT EXISTS (SELECT 1 FROM segmentation.segment_history AS h WHERE h.customer_id = c.customer_id);

-- The read-only role campaign tools are granted (README: "Access for campaign tools"). Roles are per
-- server, so it may already exist (another database, an earlier run). Without CREATEROLE the
-- migration still succeeds and says how to finish (README.md lists the grants).
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'segments_reader') THEN
        IF (SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user) THEN
            BEGIN
                CREATE ROLE segments_reader NOLOGIN;
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL;  -- another database of this server created it a moment ago
            END;
            COMMENT ON ROLE segments_reader IS 'Read-only consumer of the published segments (schema segmentation): campaign tools and BI.';
        ELSE
            RAISE NOTICE 'role segments_reader does not exist and % may not create roles: ask an administrator to '
                         'run CREATE ROLE segments_reader NOLOGIN, then the GRANTs of README.md (Access: the '
                         'segments_reader role)', current_user;
        END IF;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'segments_reader') THEN
        GRANT USAGE ON SCHEMA segmentation TO segments_reader;
        GRANT SELECT ON ALL TABLES IN SCHEMA segmentation TO segments_reader;
        GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA segmentation TO segments_reader;
        -- Tables, views and functions created later in segmentation by the pipeline's role are readable too.
        ALTER DEFAULT PRIVILEGES IN SCHEMA segmentation GRANT SELECT ON TABLES TO segments_reader;
        ALTER DEFAULT PRIVILEGES IN SCHEMA segmentation GRANT EXECUTE ON FUNCTIONS TO segments_reader;
    END IF;
END
$$;
