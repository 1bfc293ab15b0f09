"""segmentation_schema (SQL in 0002_segmentation_schema.sql)."""

from tasks.db.migrations import run_sql_beside

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    run_sql_beside(__file__)
