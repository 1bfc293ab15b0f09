"""quarantined_records_as_json: the quarantine stores each customer's record as json (SQL in
0010_quarantined_records_as_json.sql)."""

from tasks.db.migrations import run_sql_beside

revision = "0010"
down_revision = "0009"


def upgrade() -> None:
    run_sql_beside(__file__)
