"""Publish: write-audit-publish of the run's assignments.

Rows are COPYed into a staging table, audited there, then published in one transaction, so readers
see the previous segments or the new ones, never a mix, and a failed run leaves them as they were.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tasks import registry
from tasks.errors import AuditFailedError
from tasks.segments import SPEND_WINDOW_YEARS
from tasks.sql import copy_in_frame, read_sql
from tasks.train import Assignment

STAGING_TABLE = "segmentation_work.customer_segments_staging"
PUBLISHED_FEATURES = [
    "recency_days", "frequency", "monetary", "tenure_days", "campaign_acceptances", "age", "income",
    "children_home", "web_visits_month", "conversion_rate", "spend_per_purchase", "response",
]


@dataclass(frozen=True)
class AuditCheck:
    name: str
    ok: bool
    detail: str


def assignment_rows(features: pd.DataFrame, assignment: Assignment, run_id: int,
                    assigned_at: datetime) -> pd.DataFrame:
    """The rows of segmentation.customer_segments for this run, in the table's column order."""
    labels = pd.DataFrame([vars(label) for label in assignment.model.segments]).set_index("cluster_index")
    placed = labels.loc[assignment.labels].reset_index(drop=True)
    rows = pd.DataFrame({
        "customer_id": features["customer_id"].to_numpy(),
        "segment_id": placed["segment_id"].to_numpy(),
        "segment_name": placed["segment_name"].to_numpy(),
        "tier": placed["tier"].to_numpy(),
        "recommended_action": placed["recommended_action"].to_numpy(),
        "model_version": assignment.model.model_version,
        "run_id": run_id,
        "assigned_at": assigned_at.isoformat(),
    })
    for column in PUBLISHED_FEATURES:
        rows[column] = features[column].to_numpy()
    # Missing income stays NULL in the published table even when the model imputed it.
    rows["distance_to_centroid"] = assignment.distances
    return rows


def stage(engine: Engine, rows: pd.DataFrame) -> int:
    with engine.begin() as connection:
        connection.exec_driver_sql(f"TRUNCATE {STAGING_TABLE}")
        return copy_in_frame(connection, STAGING_TABLE, rows)


def audit(engine: Engine, *, run_id: int, model_version: int, expected_rows: int) -> list[AuditCheck]:
    with engine.connect() as connection:
        result = connection.exec_driver_sql(read_sql("publish/audit.sql"), {
            "run_id": run_id, "model_version": model_version, "expected_rows": expected_rows})
        checks = [AuditCheck(*row) for row in result]
    failed = [check for check in checks if not check.ok]
    if failed:
        raise AuditFailedError("staged segments failed the audit, nothing was published: "
                               + "; ".join(f"{check.name} ({check.detail})" for check in failed))
    return checks


def publish(engine: Engine, *, run_id: int, assignment: Assignment,
            after_step: Callable[[str], None] | None = None) -> int:
    """Make the staged rows the current segments, activate a newly trained model, record the history of
    segment and tier changes, add profiles. `after_step(step)` runs inside the still-open transaction
    after each step (tests use it to look from another connection)."""
    reached = after_step or (lambda _step: None)
    with engine.begin() as connection:
        if assignment.trained:
            registry.activate(connection, assignment.model.model_version)
        # History first: it compares the staged rows with each customer's current history row.
        connection.exec_driver_sql(read_sql("publish/segment_history.sql"))
        reached("segment_history")
        connection.exec_driver_sql(read_sql("publish/customer_segments.sql"))
        reached("customer_segments")
        connection.exec_driver_sql(read_sql("publish/segment_profiles.sql"),
                                   {"run_id": run_id, "window_years": SPEND_WINDOW_YEARS})
        reached("segment_profiles")
        return int(connection.scalar(sa.text(
            "SELECT count(*) FROM segmentation.customer_segments WHERE run_id = :run_id"), {"run_id": run_id}))


def now_utc() -> datetime:
    return datetime.now(timezone.utc)
