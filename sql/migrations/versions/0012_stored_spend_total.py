"""stored_spend_total: source.customers keeps each customer's total spend beside the six amounts, for the
features (SQL in 0012_stored_spend_total.sql)."""

from tasks.db.migrations import run_sql_beside

revision = "0012"
down_revision = "0011"


def upgrade() -> None:
    run_sql_beside(__file__)
