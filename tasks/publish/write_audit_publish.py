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

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tasks.model import registry
from tasks.db.server import PARALLEL_PARTS, in_parallel
from tasks.errors import AuditFailedError
from tasks.features.compute import FEATURES_TABLE
from tasks.model.registry import StoredModel
from tasks.model.scoring import scoring_sql
from tasks.model.segments import SPEND_WINDOW_YEARS
from tasks.db.sql import (
    WORK_SCHEMA,
    analyze_for_planning,
    estimated_rows,
    indexes_built_afterwards,
    quote_identifier,
    read_sql,
    table_columns,
    without_parallel_workers,
)
from tasks.model.train import Assignment

STAGING_TABLE = f"{WORK_SCHEMA}.customer_segments_staging"
STAGED_TOTALS = f"{WORK_SCHEMA}.staged_totals"  # the audit's sums of the staged rows, which the profiles read
PUBLISHED_TABLE = "segmentation.customer_segments"


@dataclass(frozen=True)
class AuditCheck:
    name: str
    ok: bool
    detail: str


def stage(engine: Engine, model: StoredModel, run_id: int, assigned_at: datetime,
          parts: int = PARALLEL_PARTS) -> int:
    """A new staging table with every modelled customer of the run placed by `model`; returns the rows staged.

    The customers are placed in the database: the model's preprocessing and centroids become SQL
    expressions (tasks/model/scoring.py) over segmentation_work.customer_features, and the staged rows are
    assembled there with the model's named segments (sql/publish/stage_assignments.sql), so no customer
    crosses the wire. The ids are split into `parts` ranges, each staged at once by its own connection into
    its own partition (one statement keeps one core busy), created by CREATE TABLE AS (PostgreSQL's bulk
    write path) and given customer_segments' NOT NULL columns and its range as a CHECK constraint.
    """
    scoring = scoring_sql(model.preprocessing, model.centroids)
    with engine.begin() as connection:
        connection.exec_driver_sql(read_sql("publish/staging_table.sql"))
        # Statistics for the join's plan (a handful of rows autovacuum never analyses). Here, once: two
        # connections analysing one table wait for each other.
        connection.exec_driver_sql("ANALYZE segmentation.model_segments")
        ranges = [StagingRange(part, lower, upper)
                  for part, (lower, upper) in enumerate(_id_ranges(connection, parts))]
        not_null = ", ".join(f"ALTER COLUMN {quote_identifier(column.name)} SET NOT NULL"
                             for column in table_columns(connection, PUBLISHED_TABLE) if column.not_null)
        # A table created and filled in one transaction skips the WAL at wal_level minimal (the embedded server).
        rows_skip_the_wal = connection.scalar(sa.text("SELECT current_setting('wal_level')")) == "minimal"
    statement = read_sql("publish/stage_assignments.sql")
    parameters = {"run_id": run_id, "model_version": model.model_version, "assigned_at": assigned_at,
                  **scoring.parameters}

    def stage_range(staged: StagingRange) -> int:
        with engine.begin() as connection:
            if rows_skip_the_wal:
                # They must reach the disk by the commit: have the kernel write them as they come (every
                # 512 kB) rather than all at the commit's fsync, which otherwise left the cores idle for up to
                # 2.5 s at ten million customers; the CREATE was no slower.
                connection.exec_driver_sql("SET LOCAL backend_flush_after = '512kB'")
            rows = connection.exec_driver_sql(statement.format(
                partition=staged.table, id_range=staged.check(), scaled=scoring.scaled, partial=scoring.partial,
                nearest=scoring.nearest, cluster_index=scoring.cluster_index), parameters).rowcount
            connection.exec_driver_sql(read_sql("publish/staging_partition.sql").format(
                partition=staged.table, not_null=not_null, range_check=staged.check()))
            return rows

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


# Customer ids sampled to split the run's customers into ranges of about equal size.
ID_SAMPLE_ROWS = 100_000


def _id_ranges(connection: sa.Connection, parts: int) -> list[tuple[int | None, int | None]]:
    """`parts` ranges of customer ids, [lower, upper), None for an open end, cut at quantiles of a sample of
    the features' ids (whole pages: cheap at any size). Equal cuts merge, so there may be fewer."""
    if parts <= 1:
        return [(None, None)]
    estimated = estimated_rows(connection, FEATURES_TABLE)  # its rows are in the tables that inherit it
    percent = 100.0 if not estimated or estimated <= ID_SAMPLE_ROWS else 100.0 * ID_SAMPLE_ROWS / estimated
    cuts = connection.scalar(sa.text(
        f"SELECT percentile_disc(CAST(:fractions AS float8[])) WITHIN GROUP (ORDER BY customer_id) "
        f"FROM {FEATURES_TABLE} TABLESAMPLE SYSTEM (:percent) REPEATABLE (0)"),
        {"fractions": [part / parts for part in range(1, parts)], "percent": percent}) or []
    bounds = [None, *sorted({int(cut) for cut in cuts if cut is not None}), None]
    return list(zip(bounds, bounds[1:]))


@dataclass(frozen=True)
class StagingRange:
    """The customers with lower <= id < upper (None: no bound), staged into their own partition."""

    part: int
    lower: int | None
    upper: int | None

    @property
    def table(self) -> str:
        return f"{STAGING_TABLE}_p{self.part}"

    def bound(self) -> str:
        return (f"FOR VALUES FROM ({'MINVALUE' if self.lower is None else int(self.lower)}) "
                f"TO ({'MAXVALUE' if self.upper is None else int(self.upper)})")

    def check(self) -> str:
        conditions = ([f"customer_id >= {int(self.lower)}"] if self.lower is not None else []) + \
                     ([f"customer_id < {int(self.upper)}"] if self.upper is not None else [])
        return " AND ".join(conditions) or "true"


def audit(engine: Engine, *, run_id: int, model_version: int, expected_rows: int) -> list[AuditCheck]:
    """Check the staged rows; raises AuditFailedError (nothing published) when one check fails.

    The checks read the staged rows' totals (sql/publish/staged_totals.sql, which the profiles read too:
    one scan), summed beside the builds of the partitions' primary keys, which check that every customer is
    staged once: all of them only read the rows. The builds run as one process each; the scan, the longest
    of the three, may take parallel workers."""
    def scanned_checks() -> list[AuditCheck]:
        with engine.begin() as connection:
            connection.exec_driver_sql(read_sql("publish/staged_totals.sql"))
            return [AuditCheck(*row) for row in connection.exec_driver_sql(read_sql("publish/audit.sql"), {
                "run_id": run_id, "model_version": model_version, "expected_rows": expected_rows})]

    partitions = _partitions_without_key(engine)
    *key_failures, checks = in_parallel([*[partial(_add_primary_key, engine, name) for name in partitions],
                                         scanned_checks])
    failures = [failure for failure in key_failures if failure]
    checks.insert(1, AuditCheck(
        "every customer assigned exactly once", not failures, "; ".join(failures) or
        "customer_id is the primary key of every staging partition (disjoint ranges of ids)"))
    failed = [check for check in checks if not check.ok]
    if failed:
        raise AuditFailedError("staged segments failed the audit, nothing was published: "
                               + "; ".join(f"{check.name} ({check.detail})" for check in failed))
    return checks


def _partitions_without_key(engine: Engine) -> list[str]:
    """The names of the staging partitions whose primary key is still to build (a repeated audit finds them
    built)."""
    with engine.connect() as connection:
        return list(connection.scalars(sa.text(
            "SELECT c.relname FROM pg_inherits AS i JOIN pg_class AS c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = CAST(:table AS regclass) "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint AS k WHERE k.conrelid = i.inhrelid AND k.contype = 'p') "
            "ORDER BY 1"), {"table": STAGING_TABLE}))


def _add_primary_key(engine: Engine, partition: str) -> str | None:
    """A staging partition's primary key (customer_segments needs it); the build is the uniqueness check, as
    the partitions hold disjoint ranges of ids. Returns what failed, or None. First a unique index, whose
    build lets the audit's scan read the partition meanwhile, then made the key: a moment's lock."""
    table, key = f"{WORK_SCHEMA}.{quote_identifier(partition)}", quote_identifier(f"{partition}_pkey")
    try:
        with engine.begin() as connection:
            without_parallel_workers(connection)  # the other partitions' builds and the audit's scan share the cores
            connection.exec_driver_sql(f"CREATE UNIQUE INDEX {key} ON {table} (customer_id)")
        with engine.begin() as connection:
            connection.exec_driver_sql(f"ALTER TABLE {table} ADD CONSTRAINT {key} PRIMARY KEY USING INDEX {key}")
    except sa.exc.IntegrityError as error:
        diagnostic = getattr(error.orig, "diag", None)  # psycopg's: the detail names the repeated key
        return f"customer_id repeats: {getattr(diagnostic, 'message_detail', None) or error.orig}"
    return None


def publish(engine: Engine, *, run_id: int, assignment: Assignment,
            after_step: Callable[[str], None] | None = None) -> int:
    """Make the staged rows the current segments, activate a newly trained model, record the history of
    segment and tier changes, add profiles. `after_step(step)` runs inside the still-open transaction
    after each step (tests use it to look from another connection).

    What the transaction writes is computed first, on parallel connections, from the staged rows
    (committed, untouched until the swap) and the history: its changes, one work table per staging
    partition (none on a first publish, where every staged customer opens a row). The transaction applies
    them, inserts the profiles (from the totals the audit summed) and swaps the partitions in. Only a run
    holding the pipeline's lock publishes, so the history does not change in between.
    """
    reached = after_step or (lambda _step: None)
    with engine.connect() as connection:
        if connection.scalar(sa.text("SELECT to_regclass(:table)"), {"table": STAGING_TABLE}) is None:
            raise AuditFailedError("nothing is staged to publish (the staged rows were published already, or "
                                   "never staged): stage and audit the run's assignments first")
        if connection.scalar(sa.text("SELECT to_regclass(:table)"), {"table": STAGED_TOTALS}) is None:
            raise AuditFailedError("the staged rows were not audited: audit them before publishing")
        partitions = connection.execute(sa.text(
            "SELECT inhrelid::regclass::text AS name, pg_get_partition_constraintdef(inhrelid) AS range "
            "FROM pg_inherits WHERE inhparent = CAST(:table AS regclass) ORDER BY 1"), {"table": STAGING_TABLE}).all()
        # Into an empty history (a first publish) every staged customer is a new row: nothing to compare.
        empty_history = not connection.scalar(sa.text("SELECT EXISTS (SELECT 1 FROM segmentation.segment_history)"))
    changes = [] if empty_history else [f"segmentation_work.history_changes_p{part}"
                                        for part in range(len(partitions))]

    def find_changes(table: str, partition: sa.Row) -> None:
        with engine.begin() as connection:
            without_parallel_workers(connection)  # one statement per partition, at once
            connection.exec_driver_sql(read_sql("publish/history_changes.sql").format(
                changes=table, partition=partition.name, partition_range=partition.range or "true"))

    finding = [] if empty_history else [partial(find_changes, table, partition)
                                        for table, partition in zip(changes, partitions, strict=True)]
    all_changes = "(" + " UNION ALL ".join(
        [f"SELECT * FROM {table}" for table in changes] or
        [f"SELECT customer_id, false AS close_current, true AS open_new, segment_id, segment_name, tier, run_id "
         f"FROM {STAGING_TABLE}"]) + ")"
    in_parallel(finding)
    with engine.begin() as connection:
        if assignment.trained:
            registry.activate(connection, assignment.model.model_version)
        # A first publish: the history's indexes are built after its rows, and the table, still empty now
        # that this transaction holds its lock, is emptied anew: a table truncated in the transaction that
        # fills it takes the rows without writing them to the WAL on a server with wal_level minimal (the
        # embedded one), nearly halving the insert of ten million rows.
        with indexes_built_afterwards(connection, "segmentation.segment_history") if empty_history \
                else nullcontext():
            if empty_history and not connection.scalar(sa.text(
                    "SELECT EXISTS (SELECT 1 FROM segmentation.segment_history)")):
                connection.exec_driver_sql("TRUNCATE segmentation.segment_history")
            connection.exec_driver_sql(read_sql("publish/segment_history.sql").format(
                changes=all_changes, order="" if empty_history else "ORDER BY customer_id"))
        reached("segment_history")
        profiles = [dict(row) for row in connection.exec_driver_sql(read_sql("publish/segment_profiles.sql"), {
            "run_id": run_id, "window_years": SPEND_WINDOW_YEARS}).mappings()]
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
        for table in changes:
            connection.exec_driver_sql(f"DROP TABLE {table}")
        return published


def now_utc() -> datetime:
    return datetime.now(timezone.utc)
