"""campaign_tables: segment history, consumer views, in-database scoring, the reader role (SQL in
0004_campaign_tables.sql, then the view and function files it names)."""

from tasks.db.migrations import run_sql_beside, run_sql_files

revision = "0004"
down_revision = "0003"

# Views and functions are kept one per file (CREATE OR REPLACE); the reader role gets SELECT on the views
# through the default privileges 0004_campaign_tables.sql sets first.
OBJECT_FILES = ["model/assign_segment.sql", "views/campaign_audience.sql", "views/tier_movements.sql",
                "views/latest_profiles.sql"]


def upgrade() -> None:
    run_sql_beside(__file__)
    run_sql_files(OBJECT_FILES)
