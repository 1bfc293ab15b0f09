"""conversion_by_band and wilson_interval (SQL in 0005_conversion_by_band.sql)."""

from tasks.db.migrations import run_sql_beside

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    run_sql_beside(__file__)
