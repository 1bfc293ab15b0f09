"""The run record in segmentation.pipeline_runs, and the lock that allows one run per database.

The lock is a session-level advisory lock, held by a connection of its own for the whole run. Losing that
session (terminated, or ended by the server) frees the lock while the run goes on, and another run may
take it: the run checks that its session still holds the lock as each stage starts and, its fence, inside
the publish transaction, so a run that lost it stops before publishing (LockLostError). The next run to
take the lock marks the runs left running as abandoned: their processes ended without finishing them.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from psycopg import sql as pgsql
from sqlalchemy.engine import Engine

from tasks.db.sql import run_sql_file
from tasks.errors import LockLostError, RunInProgressError

log = logging.getLogger(__name__)

PIPELINE_LOCK_KEY = 7_204_117_002  # advisory lock: one pipeline run per database at a time
JSON_FIELDS = frozenset({"mode_reasons", "timings"})


@dataclass
class PipelineLock:
    """The pipeline's lock as this run holds it: the engine, and the session holding it (backend pid and
    start, which tell it from a later session given the same pid)."""

    engine: Engine
    pid: int
    backend_start: datetime

    def held(self, connection: sa.Connection | None = None) -> bool:
        """Whether the run's session still holds the lock, asked on `connection` (inside a transaction, the
        fence) or on a connection of its own."""
        if connection is None:
            with self.engine.connect() as own:
                return self.held(own)
        # The holder's pid and start: a pid alone may have been reused by another session.
        holder = run_sql_file(connection, "db/advisory_lock_holder.sql", {"key": PIPELINE_LOCK_KEY}).first()
        return holder is not None and (holder.pid, holder.backend_start) == (self.pid, self.backend_start)

    def check(self, connection: sa.Connection | None = None) -> None:
        """Raise LockLostError unless the run's session still holds the lock."""
        if not self.held(connection):
            raise LockLostError(
                f"this run lost the database's pipeline lock: the session holding it (backend pid {self.pid}) "
                "was terminated or ended by the server, so another run may have started; it stopped before "
                "publishing, and the segments published before are kept")


def _holder_text(holder: sa.Row) -> str:
    application = f", application {holder.application_name!r}" if holder.application_name else ""
    return (f"backend pid {holder.pid} since {holder.backend_start:%Y-%m-%d %H:%M:%S}, role "
            f"{holder.usename}{application}")


@contextmanager
def pipeline_lock(engine: Engine, wait_seconds: float = 0.0) -> Iterator[PipelineLock]:
    """Hold the database's pipeline lock for the block; wait up to `wait_seconds`, then fail fast, naming the
    session that holds it. The session holding it is kept from the server's idle timeouts; if it is lost
    all the same, leaving the block says so in the log (the run's fence has stopped it from publishing)."""
    connection = engine.connect()
    lock: PipelineLock | None = None
    try:
        session = run_sql_file(connection, "pipeline/lock_session.sql").one()
        deadline = time.monotonic() + wait_seconds
        while not run_sql_file(connection, "pipeline/try_lock.sql", {"key": PIPELINE_LOCK_KEY}).scalar():
            if time.monotonic() >= deadline:
                holder = run_sql_file(connection, "db/advisory_lock_holder.sql", {"key": PIPELINE_LOCK_KEY}).first()
                if holder is not None and holder.may_record_runs is False:
                    # Any role can take an advisory lock: one that cannot record runs is not a run.
                    raise RunInProgressError(
                        f"the database's pipeline lock is held by a session that is not a segmentation run "
                        f"({_holder_text(holder)}, which may not record runs); end that session, e.g. "
                        f"SELECT pg_terminate_backend({holder.pid}), and run again")
                who = f" (held by {_holder_text(holder)})" if holder else ""
                raise RunInProgressError(
                    f"another segmentation run is in progress on this database{who}; "
                    "wait for it to finish or pass a longer lock wait")
            time.sleep(1.0)
        connection.commit()
        lock = PipelineLock(engine, session.pid, session.backend_start)
        yield lock
    finally:
        try:
            if lock is not None:
                connection.rollback()
                run_sql_file(connection, "pipeline/release_lock.sql", {"key": PIPELINE_LOCK_KEY})
                connection.commit()
        except sa.exc.DBAPIError as error:
            # The session is gone, and its lock with it: there is nothing to release.
            log.warning("the pipeline lock's session (backend pid %s) was lost before the run ended: %s",
                        lock.pid if lock else "?", getattr(error, "orig", None) or error)
        finally:
            try:
                connection.close()
            except sa.exc.DBAPIError:
                pass  # closing a connection the server has already ended


def start_run(engine: Engine, *, mode_requested: str, recipe_name: str, parameters: dict,
              flow_run_id: str | None) -> int:
    with engine.begin() as connection:
        return int(run_sql_file(connection, "pipeline/insert_run.sql", {
            "flow_run_id": flow_run_id, "mode_requested": mode_requested, "recipe_name": recipe_name,
            "parameters": json.dumps(parameters, default=str)}).scalar())


def update_run(engine: Engine, run_id: int, **fields: object) -> None:
    """Record progress on the run row (its own transaction, so it survives a failed publish)."""
    if not fields:
        return
    assignments = pgsql.SQL(", ").join(
        pgsql.SQL("{} = CAST({} AS jsonb)" if name in JSON_FIELDS else "{} = {}").format(
            pgsql.Identifier(name), pgsql.Placeholder(name))
        for name in fields)
    values = {name: json.dumps(value, default=str) if name in JSON_FIELDS else value
              for name, value in fields.items()}
    with engine.begin() as connection:
        run_sql_file(connection, "pipeline/update_run.sql", {**values, "run_id": run_id}, assignments=assignments)


def finish_run(engine: Engine, run_id: int, *, status: str, failed_stage: str | None = None,
               error: str | None = None) -> None:
    with engine.begin() as connection:
        run_sql_file(connection, "pipeline/finish_run.sql",
                     {"status": status, "failed_stage": failed_stage, "error": error, "run_id": run_id})
        if status == "failed":
            run_sql_file(connection, "pipeline/retire_candidate_models.sql", {"run_id": run_id})


def last_successful_run(connection: sa.Connection) -> sa.Row | None:
    return run_sql_file(connection, "pipeline/last_successful_run.sql").first()


def mark_abandoned_runs(engine: Engine, run_id: int) -> list[sa.Row]:
    """Mark the runs left running, by run `run_id`, which holds the pipeline lock (so none of them can go on):
    abandoned, or succeeded where their publish had committed; retire the abandoned ones' candidate models.
    Returns them (run_id, started_at, stage, status)."""
    with engine.begin() as connection:
        abandoned = run_sql_file(connection, "pipeline/mark_abandoned_runs.sql", {"run_id": run_id}).all()
        for run in abandoned:
            run_sql_file(connection, "pipeline/retire_candidate_models.sql", {"run_id": run.run_id})
    return abandoned


@dataclass
class RunRecord:
    """One run's row, kept as the run goes: which stage is running (named if it fails), how long each took,
    the counts and decisions recorded after each stage, and how the run ended. With the run's `lock`, each
    stage starts only while the run still holds it, and `fence` checks it inside a transaction."""

    engine: Engine
    run_id: int
    lock: PipelineLock | None = None
    current_stage: str = "start"
    timings: dict[str, float] = field(default_factory=dict)
    abandoned: list[sa.Row] = field(default_factory=list)  # the runs this one found left running
    published: bool = False  # recorded succeeded: what follows (the report) cannot fail the run

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        self.current_stage = name
        self.update(stage=name)
        if self.lock is not None and not self.published:
            self.lock.check()
        started = time.perf_counter()
        yield
        self.timings[name] = round(time.perf_counter() - started, 3)

    def fence(self, connection: sa.Connection) -> None:
        """Inside a transaction about to publish: raise LockLostError unless the run still holds the lock."""
        if self.lock is not None:
            self.lock.check(connection)

    def update(self, **fields: object) -> None:
        update_run(self.engine, self.run_id, **fields)

    def succeeded(self, **fields: object) -> None:
        if self.lock is not None:
            self.lock.check()  # a dry run has no publish transaction to fence
        update_run(self.engine, self.run_id, **fields, timings=self.timings)
        finish_run(self.engine, self.run_id, status="succeeded")
        self.published = True

    def report_failed(self, error: BaseException) -> None:
        """The report failed after the run published: the run stays succeeded, the report's error is kept."""
        update_run(self.engine, self.run_id, report_error=str(error) or type(error).__name__, timings=self.timings)

    def failed(self, error: BaseException) -> None:
        if self.published:  # e.g. Ctrl-C during the report
            self.report_failed(error)
            return
        update_run(self.engine, self.run_id, timings=self.timings)
        finish_run(self.engine, self.run_id, status="failed", failed_stage=self.current_stage,
                   error=str(error) or type(error).__name__)


@contextmanager
def recorded_run(engine: Engine, *, mode_requested: str, recipe_name: str, parameters: dict,
                 flow_run_id: str | None = None, lock: PipelineLock | None = None) -> Iterator[RunRecord]:
    """A new run row for the block, entered under the pipeline `lock`: the runs found left running are marked
    abandoned first. An exception escaping the block (Ctrl-C too) marks the run failed at the stage it was in,
    then propagates, as LockLostError when the run had lost the lock. The block records success itself
    (RunRecord.succeeded) once it has published."""
    record = RunRecord(engine, start_run(engine, mode_requested=mode_requested, recipe_name=recipe_name,
                                         parameters=parameters, flow_run_id=flow_run_id), lock)
    if lock is not None:
        record.abandoned = mark_abandoned_runs(engine, record.run_id)
        for run in record.abandoned:
            log.warning("run %s was left running (started %s, at stage %s): marked %s", run.run_id,
                        f"{run.started_at:%Y-%m-%d %H:%M:%S}", run.stage or "start", run.status)
    try:
        yield record
    except (Exception, KeyboardInterrupt) as error:
        raised: BaseException = error
        try:
            if lock is not None and not record.published and not isinstance(error, LockLostError) \
                    and not lock.held():
                raised = LockLostError(f"this run lost the database's pipeline lock (its session, backend pid "
                                       f"{lock.pid}, was terminated or ended by the server) and then failed at "
                                       f"stage {record.current_stage}: {error}")
            record.failed(raised)
        except sa.exc.DBAPIError as recording:
            # The database cannot be reached to record it: the next run marks this one abandoned.
            log.warning("run %s could not be recorded as failed: %s", record.run_id,
                        getattr(recording, "orig", None) or recording)
        if raised is error:
            raise
        raise raised from error
