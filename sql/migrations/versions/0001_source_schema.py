"""source_schema (SQL in 0001_source_schema.sql)."""

from tasks.db.migrations import run_sql_beside

revision = "0001"
down_revision = None


def upgrade() -> None:
    run_sql_beside(__file__)
