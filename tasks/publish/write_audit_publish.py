"""Publish: write-audit-publish of the run's assignments.

The run's rows are built in a new staging table (one partition per range of customer ids, each filled by
its own connection), audited there, then published in one transaction that records history and profiles
and swaps the staging partitions in as the partitions of segmentation.customer_segments. Readers see the
previous segments or the new ones, never a mix; while the rows are written they keep reading the previous
ones, and a failed run leaves them as they were. The statements are the files of sql/publish/.

The swap needs segmentation.customer_segments to itself for a moment, and while it waits for a lock every
new reader queues behind it: it asks with a short lock_timeout, in a savepoint, and tries again with
backoff, naming the sessions in its way, for as long as the run allows (then the run fails, the segments
published before kept). Only a run that still holds the pipeline's lock commits a publish (its `fence`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import partial

import psycopg
import sqlalchemy as sa
from psycopg import sql as pgsql
from sqlalchemy.engine import Engine

from tasks.db.parallel import PARALLEL_PARTS, in_parallel
from tasks.db.sql import (
    WORK_SCHEMA,
    analyze_for_planning,
    estimated_rows,
    identifier,
    indexes_built_afterwards,
    run_sql_file,
    run_sql_file_with_values,
    sql_file,
    table_columns,
    without_parallel_workers,
)
from tasks.errors import AuditFailedError, PublishBlockedError
from tasks.features.compute import FEATURES_TABLE
from tasks.model import registry
from tasks.model.registry import StoredModel
from tasks.model.scoring import scoring_sql
from tasks.model.segments import SPEND_WINDOW_YEARS
from tasks.model.train import Assignment

STAGING_TABLE = f"{WORK_SCHEMA}.customer_segments_staging"
STAGED_TOTALS = f"{WORK_SCHEMA}.staged_totals"  # the audit's sums of the staged rows, which the profiles read
PUBLISHED_TABLE = "segmentation.customer_segments"
# The swap's wait for its locks: each attempt waits at most SWAP_LOCK_TIMEOUT (readers arriving meanwhile
# queue behind it that long at most), the pauses between attempts double up to SWAP_RETRY_MAX_SECONDS, and
# a run gives up after its publish wait (SWAP_WAIT_SECONDS unless it says otherwise).
SWAP_LOCK_TIMEOUT = "100ms"
SWAP_RETRY_FIRST_SECONDS, SWAP_RETRY_MAX_SECONDS = 0.1, 5.0
SWAP_WAIT_SECONDS = 300.0

log = logging.getLogger(__name__)


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
        run_sql_file(connection, "publish/staging_table.sql")
        # Statistics for the join's plan. Here, once: two connections analysing one table wait for each other.
        run_sql_file(connection, "publish/analyze_model_segments.sql")
        ranges = [StagingRange(part, lower, upper)
                  for part, (lower, upper) in enumerate(_id_ranges(connection, parts))]
        not_null = pgsql.SQL(", ").join(
            pgsql.SQL("ALTER COLUMN {} SET NOT NULL").format(identifier(column.name, "column"))
            for column in table_columns(connection, PUBLISHED_TABLE) if column.not_null)
        # A table created and filled in one transaction skips the WAL at wal_level minimal (the embedded server).
        rows_skip_the_wal = run_sql_file(connection, "publish/wal_level.sql").scalar() == "minimal"
    parameters = {"run_id": run_id, "model_version": model.model_version, "assigned_at": assigned_at,
                  **scoring.parameters}

    def stage_range(staged: StagingRange) -> int:
        with engine.begin() as connection:
            if rows_skip_the_wal:
                # They must reach the disk by the commit: written as they come, rather than all at the
                # commit's fsync, which otherwise left the cores idle at ten million customers; the CREATE
                # was no slower.
                run_sql_file(connection, "publish/flush_as_written.sql")
            rows = run_sql_file(
                connection, "publish/stage_assignments.sql", {**parameters, **staged.bounds()},
                partition=staged.table, id_range=staged.range_check(), scaled=scoring.scaled,
                partial=scoring.partial, nearest=scoring.nearest, cluster_index=scoring.cluster_index).rowcount
            # DDL takes no parameters: psycopg writes the range's bounds into the statement.
            run_sql_file_with_values(connection, "publish/staging_partition.sql", staged.bounds(),
                                     partition=staged.table, not_null=not_null, range_check=staged.range_check())
            return rows

    staged_rows = sum(in_parallel([partial(stage_range, staged) for staged in ranges]))
    with engine.begin() as connection:
        for staged in ranges:
            run_sql_file_with_values(connection, "publish/attach_staging_partition.sql", staged.bounds(),
                                     partition=staged.table, **staged.partition_bound())
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
    cuts = run_sql_file(connection, "publish/id_cuts.sql", {
        "fractions": [part / parts for part in range(1, parts)], "percent": percent}).scalar() or []
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

    def bounds(self) -> dict[str, int]:
        """The parameters lower and upper of the bounds there are."""
        return {name: int(bound) for name, bound in (("lower", self.lower), ("upper", self.upper))
                if bound is not None}

    def range_check(self) -> pgsql.Composable:
        """The range as a condition on customer_id, its bounds the parameters lower and upper (TRUE: no bound)."""
        conditions = ([pgsql.SQL("customer_id >= {}").format(pgsql.Placeholder("lower"))]
                      if self.lower is not None else []) + \
                     ([pgsql.SQL("customer_id < {}").format(pgsql.Placeholder("upper"))]
                      if self.upper is not None else [])
        return pgsql.SQL(" AND ").join(conditions) if conditions else pgsql.SQL("true")

    def partition_bound(self) -> dict[str, pgsql.Composable]:
        """The fragments lower and upper of a partition bound: the parameters, or MINVALUE / MAXVALUE."""
        return {"lower": pgsql.SQL("MINVALUE") if self.lower is None else pgsql.Placeholder("lower"),
                "upper": pgsql.SQL("MAXVALUE") if self.upper is None else pgsql.Placeholder("upper")}


def audit(engine: Engine, *, run_id: int, model_version: int, expected_rows: int) -> list[AuditCheck]:
    """Check the staged rows; raises AuditFailedError (nothing published) when one check fails.

    The checks read the staged rows' totals (sql/publish/staged_totals.sql, which the profiles read too:
    one scan), summed beside the builds of the partitions' primary keys, which check that every customer is
    staged once: all of them only read the rows. The builds run as one process each; the scan, the longest
    of the three, may take parallel workers."""
    def scanned_checks() -> list[AuditCheck]:
        with engine.begin() as connection:
            run_sql_file(connection, "publish/staged_totals.sql")
            return [AuditCheck(*row) for row in run_sql_file(connection, "publish/audit.sql", {
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
        return list(run_sql_file(connection, "publish/partitions_without_key.sql", {"table": STAGING_TABLE}).scalars())


def _add_primary_key(engine: Engine, partition: str) -> str | None:
    """A staging partition's primary key (customer_segments needs it); the build is the uniqueness check, as
    the partitions hold disjoint ranges of ids. Returns what failed, or None. First a unique index, whose
    build lets the audit's scan read the partition meanwhile, then made the key: a moment's lock."""
    names = {"partition": f"{WORK_SCHEMA}.{partition}", "key": f"{partition}_pkey"}
    try:
        with engine.begin() as connection:
            without_parallel_workers(connection)  # the other partitions' builds and the audit's scan share the cores
            run_sql_file(connection, "publish/unique_customer_index.sql", **names)
        with engine.begin() as connection:
            run_sql_file(connection, "publish/primary_key_from_index.sql", **names)
    except sa.exc.IntegrityError as error:
        diagnostic = getattr(error.orig, "diag", None)  # psycopg's: the detail names the repeated key
        return f"customer_id repeats: {getattr(diagnostic, 'message_detail', None) or error.orig}"
    return None


def publish(engine: Engine, *, run_id: int, assignment: Assignment,
            after_step: Callable[[str], None] | None = None, with_rfm: bool = False,
            fence: Callable[[sa.Connection], None] | None = None, swap_wait_seconds: float = SWAP_WAIT_SECONDS,
            logger: logging.Logger | logging.LoggerAdapter = log) -> int:
    """Make the staged rows the current segments, activate a newly trained model, record the history of
    segment and tier changes, add profiles (and, `with_rfm`, the RFM summary of an orders source).
    `after_step(step)` runs inside the still-open transaction
    after each step (tests use it to look from another connection).

    What the transaction writes is computed first, on parallel connections, from the staged rows
    (committed, untouched until the swap) and the history: its changes, one work table per staging
    partition (none on a first publish, where every staged customer opens a row). The transaction applies
    them, inserts the profiles (from the totals the audit summed) and swaps the partitions in (waiting for
    readers' locks up to `swap_wait_seconds`, see _swap_partitions). Only a run holding the pipeline's lock
    publishes, so the history does not change in between: `fence(connection)` raises unless the run still
    holds it, checked before the work and last in the transaction.
    """
    reached = after_step or (lambda _step: None)
    fenced = fence or (lambda _connection: None)
    with engine.connect() as connection:
        fenced(connection)
        if run_sql_file(connection, "publish/table_exists.sql", {"table": STAGING_TABLE}).scalar() is None:
            raise AuditFailedError("nothing is staged to publish (the staged rows were published already, or "
                                   "never staged): stage and audit the run's assignments first")
        if run_sql_file(connection, "publish/table_exists.sql", {"table": STAGED_TOTALS}).scalar() is None:
            raise AuditFailedError("the staged rows were not audited: audit them before publishing")
        partitions = run_sql_file(connection, "publish/staging_partitions.sql", {"table": STAGING_TABLE}).all()
        # Into an empty history (a first publish) every staged customer is a new row: nothing to compare.
        empty_history = not run_sql_file(connection, "publish/history_has_rows.sql").scalar()
    changes = [] if empty_history else [f"{WORK_SCHEMA}.history_changes_p{part}" for part in range(len(partitions))]

    def find_changes(table: str, partition: sa.Row) -> None:
        with engine.begin() as connection:
            without_parallel_workers(connection)  # one statement per partition, at once
            # The range is the catalog's own text of the partition constraint (pg_get_partition_constraintdef).
            run_sql_file(connection, "publish/history_changes.sql", changes=table, partition=partition.name,
                         partition_range=pgsql.SQL(partition.range or "true"))

    finding = [] if empty_history else [partial(find_changes, table, partition)
                                        for table, partition in zip(changes, partitions, strict=True)]
    all_changes = _all_changes(changes)
    in_parallel(finding)
    with engine.begin() as connection:
        if assignment.trained:
            registry.activate(connection, assignment.model.model_version)
        # A first publish: the history's indexes are built after its rows, and the table, still empty now
        # that this transaction holds its lock, is emptied anew: a table truncated in the transaction that
        # fills it takes the rows without writing them to the WAL on a server with wal_level minimal (the
        # embedded one), which makes the insert of ten million rows much cheaper.
        with indexes_built_afterwards(connection, "segmentation.segment_history") if empty_history \
                else nullcontext():
            if empty_history and not run_sql_file(connection, "publish/history_has_rows.sql").scalar():
                run_sql_file(connection, "publish/empty_history.sql")
            run_sql_file(connection, "publish/segment_history.sql", changes=all_changes,
                         order=pgsql.SQL("" if empty_history else "ORDER BY customer_id"))
        reached("segment_history")
        profiles = [dict(row) for row in run_sql_file(connection, "publish/segment_profiles.sql", {
            "run_id": run_id, "window_years": SPEND_WINDOW_YEARS}).mappings()]
        if profiles:
            columns = list(profiles[0])  # the query's own column names, segment_profiles' columns
            connection.exec_driver_sql(sql_file(
                "publish/insert_segment_profile.sql",
                columns=pgsql.SQL(", ").join(identifier(column, "column") for column in columns),
                values=pgsql.SQL(", ").join(pgsql.Placeholder(column) for column in columns)), profiles)
        reached("segment_profiles")
        if with_rfm:  # an orders source: the customers' RFM summary is published with their segments
            run_sql_file(connection, "publish/clear_customer_rfm.sql")
            run_sql_file(connection, "publish/customer_rfm.sql", {"run_id": run_id})
            reached("customer_rfm")
        published = int(run_sql_file(connection, "publish/published_customers.sql", {"run_id": run_id}).scalar())
        _swap_partitions(connection, swap_wait_seconds, logger)
        reached("customer_segments")
        for table in changes:
            run_sql_file(connection, "publish/drop_history_changes.sql", changes=table)
        fenced(connection)  # last: a run that lost the lock meanwhile commits nothing
        return published


def _swap_partitions(connection: sa.Connection, wait_seconds: float,
                     logger: logging.Logger | logging.LoggerAdapter) -> None:
    """Swap the staged partitions in (sql/publish/swap_partition.sql) inside the publish transaction, asking
    for the locks with a short lock_timeout in a savepoint: a timed-out attempt is rolled back alone (its
    locks released, the history and profiles kept), and tried again after a pause that doubles, the sessions
    in the way named in the log; after `wait_seconds`, PublishBlockedError (the caller's transaction, and with
    it the whole publish, rolls back)."""
    deadline = time.monotonic() + wait_seconds
    pause, attempts = SWAP_RETRY_FIRST_SECONDS, 0
    while True:
        attempts += 1
        try:
            with connection.begin_nested():
                # Local to the transaction: the statements after the swap only drop the run's work tables.
                run_sql_file(connection, "db/local_lock_timeout.sql", {"timeout": SWAP_LOCK_TIMEOUT})
                run_sql_file(connection, "publish/swap_partition.sql")
            return
        except sa.exc.OperationalError as error:
            if not isinstance(error.orig, psycopg.errors.LockNotAvailable):
                raise
        holders = "; ".join(_describe_session(row) for row in run_sql_file(connection, "publish/swap_blockers.sql"))
        holders = holders or "sessions that have just released it"
        if time.monotonic() + pause > deadline:
            raise PublishBlockedError(
                f"could not publish: other sessions held segmentation.customer_segments for longer than the "
                f"publish waits ({wait_seconds:g}s, {attempts} attempts), and the swap needs it alone for a "
                f"moment: {holders}. Nothing was published; the segments published before are kept. End or "
                "shorten those transactions (idle_in_transaction_session_timeout for the readers' role ends "
                "idle ones), or give the run a longer publish wait")
        logger.warning("publish: segmentation.customer_segments is held by %s; trying again in %.1fs "
                       "(attempt %s; readers are not kept waiting meanwhile)", holders, pause, attempts)
        time.sleep(pause)
        pause = min(pause * 2, SWAP_RETRY_MAX_SECONDS)


def _describe_session(session: sa.Row) -> str:
    """A session holding a lock, as a log line names it (what its role may not see of it is left out)."""
    parts = [f"backend pid {session.pid}", f"role {session.usename}"]
    if session.application_name:
        parts.append(f"application {session.application_name!r}")
    if session.state:
        parts.append(session.state)
    if session.xact_start is not None:
        parts.append(f"in a transaction since {session.xact_start:%Y-%m-%d %H:%M:%S}")
    if session.query:
        parts.append(f"last query {session.query!r}")
    return ", ".join(parts)


def _all_changes(changes: list[str]) -> pgsql.Composable:
    """The query of every change the publish applies (sql/publish/segment_history.sql's fragment changes): the
    work tables of history changes, one per staging partition, read as one (UNION ALL); none on a first
    publish, whose changes are every staged customer."""
    if not changes:
        return pgsql.SQL(sql_file("publish/first_publish_changes.sql"))
    return pgsql.SQL("\nUNION ALL\n").join(
        pgsql.SQL(sql_file("publish/partition_changes.sql", changes=table)) for table in changes)


def now_utc() -> datetime:
    return datetime.now(timezone.utc)
