"""validation_results (SQL in 0003_validation_results.sql)."""

from tasks.db.migrations import run_sql_beside

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    run_sql_beside(__file__)
