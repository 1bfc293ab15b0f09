"""partitioned_customer_segments: customer_segments as a one-partition table whose partition publish swaps
(SQL in 0006_partitioned_customer_segments.sql), then the view that read the old table re-pointed."""

from tasks.db.migrations import run_sql_beside, run_sql_files

revision = "0006"
down_revision = "0005"

# Views bind to the table they were created on (the old one is now the partition): recreate them on the parent.
VIEWS_ON_CUSTOMER_SEGMENTS = ["views/campaign_audience.sql"]


def upgrade() -> None:
    run_sql_beside(__file__)
    run_sql_files(VIEWS_ON_CUSTOMER_SEGMENTS)
