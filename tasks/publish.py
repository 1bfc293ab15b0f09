"""Publish: write-audit-publish of the run's assignments.

The run's rows are built in a new staging table (one partition per range of customer ids, each filled by
its own connection), audited there, then published in one transaction that records history and profiles
and swaps the staging partitions in as the partitions of segmentation.customer_segments. Readers see the
previous segments or the new ones, never a mix; while the rows are written they keep reading the previous
ones, and a failed run leaves them as they were.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import partial

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tasks import registry
from tasks.database import PARALLEL_PARTS, concurrently, in_parallel
from tasks.errors import AuditFailedError
from tasks.segments import SPEND_WINDOW_YEARS
from tasks.sql import analyze_for_planning, copy_in_arrays, indexes_built_afterwards, read_sql
from tasks.train import Assignment

STAGING_TABLE = "segmentation_work.customer_segments_staging"


@dataclass(frozen=True)
class AuditCheck:
    name: str
    ok: bool
    detail: str


def stage(engine: Engine, customer_ids: np.ndarray, assignment: Assignment, run_id: int,
          assigned_at: datetime, parts: int = PARALLEL_PARTS) -> int:
    """A new staging table with this run's assignments; returns the rows staged.

    The model stage knows, per customer, only a cluster index and a distance; the published features
    are in segmentation_work.customer_features and the names in segmentation.model_segments. So only
    three numeric columns cross the wire (binary COPY into a temporary table) and the staged rows are
    assembled set-based in the database (sql/publish/stage_assignments.sql). The customers are split into
    `parts` ranges of ids, each staged at once by its own connection into its own partition (one INSERT
    keeps one core busy; a table created and filled in one transaction skips the WAL).
    """
    order = np.argsort(customer_ids, kind="stable") if np.any(np.diff(customer_ids) <= 0) else slice(None)
    ids = np.asarray(customer_ids, dtype="int64")[order]
    labels = np.asarray(assignment.labels, dtype="int32")[order]
    distances = np.asarray(assignment.distances, dtype="float64")[order]
    with engine.begin() as connection:
        connection.exec_driver_sql(read_sql("publish/staging_table.sql"))
        # Statistics for the join's plan (a handful of rows autovacuum never analyses): without them the
        # segments' join looks selective and the features are joined by millions of index lookups. Here,
        # once: two connections analysing one table wait for each other.
        connection.exec_driver_sql("ANALYZE segmentation.model_segments")
    # Equal ids (which the audit then rejects) stay in one range: a range starts at an id's first row.
    starts = sorted({0} | {int(np.searchsorted(ids, ids[len(ids) * part // parts]))
                           for part in range(1, min(parts, len(ids)))})
    ranges = [StagingRange(part, ids, start, stop)
              for part, (start, stop) in enumerate(zip(starts, starts[1:] + [len(ids)]))]
    parameters = {"run_id": run_id, "model_version": assignment.model.model_version, "assigned_at": assigned_at}

    def stage_range(staged: StagingRange) -> int:
        with engine.begin() as connection:
            connection.exec_driver_sql(read_sql("publish/staging_partition.sql").format(
                partition=staged.table, range_check=staged.check()))
            connection.exec_driver_sql(
                "CREATE TEMPORARY TABLE run_assignments (customer_id bigint, cluster_index integer, "
                "distance_to_centroid double precision) ON COMMIT DROP")
            part = slice(staged.start, staged.stop)
            copy_in_arrays(connection, "run_assignments", {
                "customer_id": ids[part], "cluster_index": labels[part], "distance_to_centroid": distances[part]})
            analyze_for_planning(connection, "run_assignments")
            return connection.exec_driver_sql(
                read_sql("publish/stage_assignments.sql").format(partition=staged.table),
                {**parameters, "first_id": staged.first_id, "last_id": staged.last_id}).rowcount

    staged_rows = sum(in_parallel([partial(stage_range, staged) for staged in ranges]))
    with engine.begin() as connection:
        for staged in ranges:
            connection.exec_driver_sql(
                f"ALTER TABLE {STAGING_TABLE} ATTACH PARTITION {staged.table} {staged.bound()}")
        # New tables have no statistics, and the audit's and publish's plans need the partitioned table's own
        # (without them it guessed a million segments and sorted ten million rows to disk to group them).
        # This analyses the partitions too.
        analyze_for_planning(connection, STAGING_TABLE)
    return staged_rows


@dataclass(frozen=True)
class StagingRange:
    """The customers ids[start:stop] (sorted ids), staged into their own partition of the staging table."""

    part: int
    ids: np.ndarray
    start: int
    stop: int

    @property
    def table(self) -> str:
        return f"{STAGING_TABLE}_p{self.part}"

    @property
    def first_id(self) -> int:
        return int(self.ids[self.start]) if self.stop > self.start else 0

    @property
    def last_id(self) -> int:
        return int(self.ids[self.stop - 1]) if self.stop > self.start else -1

    def _lower(self) -> int | None:  # the first range reaches down to MINVALUE, the last up to MAXVALUE
        return int(self.ids[self.start]) if self.start > 0 else None

    def _upper(self) -> int | None:
        return int(self.ids[self.stop]) if self.stop < len(self.ids) else None

    def bound(self) -> str:
        lower, upper = self._lower(), self._upper()
        return (f"FOR VALUES FROM ({'MINVALUE' if lower is None else lower}) "
                f"TO ({'MAXVALUE' if upper is None else upper})")

    def check(self) -> str:
        lower, upper = self._lower(), self._upper()
        conditions = ([f"customer_id >= {lower}"] if lower is not None else []) + \
                     ([f"customer_id < {upper}"] if upper is not None else [])
        return " AND ".join(conditions) or "true"


def audit(engine: Engine, *, run_id: int, model_version: int, expected_rows: int) -> list[AuditCheck]:
    """Check the staged rows; raises AuditFailedError (nothing published) when one check fails."""
    primary_key_ok, primary_key_detail = _add_staging_primary_keys(engine)
    with engine.begin() as connection:
        result = connection.exec_driver_sql(read_sql("publish/audit.sql"), {
            "run_id": run_id, "model_version": model_version, "expected_rows": expected_rows,
            "primary_key_ok": primary_key_ok, "primary_key_detail": primary_key_detail})
        checks = [AuditCheck(*row) for row in result]
    failed = [check for check in checks if not check.ok]
    if failed:
        raise AuditFailedError("staged segments failed the audit, nothing was published: "
                               + "; ".join(f"{check.name} ({check.detail})" for check in failed))
    return checks


def _add_staging_primary_keys(engine: Engine) -> tuple[bool, str]:
    """Each staging partition's primary key (customer_segments needs it), built at once on parallel
    connections. The builds are the uniqueness check: the partitions hold disjoint ranges of ids."""
    with engine.connect() as connection:
        partitions = connection.scalars(sa.text(
            "SELECT i.inhrelid::regclass::text FROM pg_inherits AS i WHERE i.inhparent = CAST(:table AS regclass) "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint AS c WHERE c.conrelid = i.inhrelid AND c.contype = 'p') "
            "ORDER BY 1"), {"table": STAGING_TABLE}).all()  # a repeated audit finds them built

    def add_primary_key(partition: str) -> str | None:
        try:
            with engine.begin() as connection:
                connection.exec_driver_sql(f"ALTER TABLE {partition} ADD PRIMARY KEY (customer_id)")
        except sa.exc.IntegrityError as error:
            diagnostic = getattr(error.orig, "diag", None)  # psycopg's: the detail names the repeated key
            return f"customer_id repeats: {getattr(diagnostic, 'message_detail', None) or error.orig}"
        return None

    failures = [failure for failure in in_parallel([partial(add_primary_key, name) for name in partitions])
                if failure]
    if failures:
        return False, "; ".join(failures)
    return True, "customer_id is the primary key of every staging partition (disjoint ranges of ids)"


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

        def record_history() -> None:
            # It compares the staged rows with each customer's current history row. Into an empty history
            # (a first publish) every customer is a new row: its indexes are built after them.
            empty_history = not connection.scalar(sa.text(
                "SELECT EXISTS (SELECT 1 FROM segmentation.segment_history)"))
            with indexes_built_afterwards(connection, "segmentation.segment_history") if empty_history \
                    else nullcontext():
                connection.exec_driver_sql(read_sql("publish/segment_history.sql"))

        def profile_rows() -> list[dict]:
            # Only reads the staged rows (committed, untouched until the swap): on another connection, at
            # once with the history, which keeps this transaction's process busy.
            with engine.connect() as reader:
                return [dict(row) for row in reader.exec_driver_sql(read_sql("publish/segment_profiles.sql"), {
                    "run_id": run_id, "window_years": SPEND_WINDOW_YEARS}).mappings()]

        _, profiles = concurrently(record_history, profile_rows)
        reached("segment_history")
        if profiles:
            columns = list(profiles[0])  # the query's own column names, segment_profiles' columns
            connection.execute(sa.text(
                f"INSERT INTO segmentation.segment_profiles ({', '.join(columns)}) VALUES "
                f"({', '.join(':' + column for column in columns)}) ON CONFLICT (run_id, segment_id) DO NOTHING"),
                profiles)
        reached("segment_profiles")
        published = int(connection.scalar(sa.text(
            "SELECT sum(customers) FROM segmentation.segment_profiles WHERE run_id = :run_id"), {"run_id": run_id}))
        connection.exec_driver_sql(read_sql("publish/swap_partition.sql"))
        reached("customer_segments")
        return published


def now_utc() -> datetime:
    return datetime.now(timezone.utc)
