"""work_tables_without_autovacuum: the run's work tables are analysed by the run, not autovacuum
(SQL in 0007_work_tables_without_autovacuum.sql)."""

from tasks.db.migrations import run_sql_beside

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    run_sql_beside(__file__)
