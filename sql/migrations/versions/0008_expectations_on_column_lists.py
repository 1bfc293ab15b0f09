"""expectations_on_column_lists: validation_results.column_name may name a list of columns
(SQL in 0008_expectations_on_column_lists.sql)."""

from tasks.db.migrations import run_sql_beside

revision = "0008"
down_revision = "0007"


def upgrade() -> None:
    run_sql_beside(__file__)
