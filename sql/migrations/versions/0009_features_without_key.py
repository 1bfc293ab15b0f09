"""features_without_key: the run's features are written without a primary key; scoring a customer by id
reads the published rows (SQL in 0009_features_without_key.sql, then the function file it names)."""

from tasks.db.migrations import run_sql_beside, run_sql_files

revision = "0009"
down_revision = "0008"


def upgrade() -> None:
    run_sql_beside(__file__)
    run_sql_files(["model/assign_segment.sql"])
