"""Publish: write-audit-publish of the run's assignments.

The run's rows are built in a new staging table, audited there, then published in one transaction that
records history and profiles and swaps the staging table in as the partition of
segmentation.customer_segments. Readers see the previous segments or the new ones, never a mix; while
the rows are written they keep reading the previous ones, and a failed run leaves them as they were.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tasks import registry
from tasks.errors import AuditFailedError
from tasks.segments import SPEND_WINDOW_YEARS
from tasks.sql import copy_in_arrays, read_sql
from tasks.train import Assignment

STAGING_TABLE = "segmentation_work.customer_segments_staging"


@dataclass(frozen=True)
class AuditCheck:
    name: str
    ok: bool
    detail: str


def stage(engine: Engine, customer_ids: np.ndarray, assignment: Assignment, run_id: int,
          assigned_at: datetime) -> int:
    """A new staging table with this run's assignments; returns the rows staged.

    The model stage knows, per customer, only a cluster index and a distance; the published features
    are in segmentation_work.customer_features and the names in segmentation.model_segments. So only
    three numeric columns cross the wire (binary COPY into a temporary table) and the staged rows are
    assembled set-based in the database (sql/publish/stage_assignments.sql).
    """
    with engine.begin() as connection:
        connection.exec_driver_sql(read_sql("publish/staging_table.sql"))
        connection.exec_driver_sql(
            "CREATE TEMPORARY TABLE run_assignments (customer_id bigint, cluster_index integer, "
            "distance_to_centroid double precision) ON COMMIT DROP")
        copy_in_arrays(connection, "run_assignments", {
            "customer_id": np.asarray(customer_ids, dtype="int64"),
            "cluster_index": np.asarray(assignment.labels, dtype="int32"),
            "distance_to_centroid": np.asarray(assignment.distances, dtype="float64")})
        # Statistics for the join's plan: without them (a handful of rows autovacuum never analyses) the
        # segments' join looks selective and the features are joined by ten million index lookups.
        connection.exec_driver_sql("ANALYZE run_assignments, segmentation.model_segments")
        result = connection.exec_driver_sql(read_sql("publish/stage_assignments.sql"), {
            "run_id": run_id, "model_version": assignment.model.model_version, "assigned_at": assigned_at})
        # A new table has no statistics: the audit's and publish's joins are planned on these.
        connection.exec_driver_sql(f"ANALYZE {STAGING_TABLE}")
        return result.rowcount


def audit(engine: Engine, *, run_id: int, model_version: int, expected_rows: int) -> list[AuditCheck]:
    """Check the staged rows; raises AuditFailedError (nothing published) when one check fails."""
    with engine.begin() as connection:
        primary_key_ok, primary_key_detail = _add_staging_primary_key(connection)
        result = connection.exec_driver_sql(read_sql("publish/audit.sql"), {
            "run_id": run_id, "model_version": model_version, "expected_rows": expected_rows,
            "primary_key_ok": primary_key_ok, "primary_key_detail": primary_key_detail})
        checks = [AuditCheck(*row) for row in result]
    failed = [check for check in checks if not check.ok]
    if failed:
        raise AuditFailedError("staged segments failed the audit, nothing was published: "
                               + "; ".join(f"{check.name} ({check.detail})" for check in failed))
    return checks


def _add_staging_primary_key(connection: sa.Connection) -> tuple[bool, str]:
    """The staging table's primary key (the partition needs it): its build is the uniqueness check."""
    exists = connection.scalar(sa.text(
        "SELECT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = CAST(:table AS regclass) AND contype = 'p')"),
        {"table": STAGING_TABLE})
    if not exists:  # a repeated audit finds it built
        try:
            with connection.begin_nested():
                connection.exec_driver_sql(f"ALTER TABLE {STAGING_TABLE} ADD CONSTRAINT "
                                           "customer_segments_staging_pkey PRIMARY KEY (customer_id)")
        except sa.exc.IntegrityError as error:
            return False, f"customer_id repeats: {str(error.orig).splitlines()[-1]}"
    return True, "customer_id is the staging table's primary key"


def publish(engine: Engine, *, run_id: int, assignment: Assignment,
            after_step: Callable[[str], None] | None = None) -> int:
    """Make the staged rows the current segments, activate a newly trained model, record the history of
    segment and tier changes, add profiles. `after_step(step)` runs inside the still-open transaction
    after each step (tests use it to look from another connection)."""
    reached = after_step or (lambda _step: None)
    with engine.begin() as connection:
        if connection.scalar(sa.text("SELECT to_regclass(:table)"), {"table": STAGING_TABLE}) is None:
            raise AuditFailedError("nothing is staged to publish (the staged rows were published already, or "
                                   "never staged): stage and audit the run's assignments first")
        if assignment.trained:
            registry.activate(connection, assignment.model.model_version)
        # History first: it compares the staged rows with each customer's current history row.
        connection.exec_driver_sql(read_sql("publish/segment_history.sql"))
        reached("segment_history")
        connection.exec_driver_sql(read_sql("publish/segment_profiles.sql"),
                                   {"run_id": run_id, "window_years": SPEND_WINDOW_YEARS})
        reached("segment_profiles")
        published = int(connection.scalar(sa.text(
            "SELECT sum(customers) FROM segmentation.segment_profiles WHERE run_id = :run_id"), {"run_id": run_id}))
        connection.exec_driver_sql(read_sql("publish/swap_partition.sql"))
        reached("customer_segments")
        return published


def now_utc() -> datetime:
    return datetime.now(timezone.utc)
