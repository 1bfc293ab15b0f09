"""stored_record_hash: source.customers keeps each record's hash beside it, for the search for repeated
records (SQL in 0011_stored_record_hash.sql)."""

from tasks.db.migrations import run_sql_beside

revision = "0011"
down_revision = "0010"


def upgrade() -> None:
    run_sql_beside(__file__)
