"""The run record in segmentation.pipeline_runs, and the lock that allows one run per database."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import sqlalchemy as sa
from psycopg import sql as pgsql
from sqlalchemy.engine import Engine

from tasks.db.sql import run_sql_file
from tasks.errors import RunInProgressError

PIPELINE_LOCK_KEY = 7_204_117_002  # advisory lock: one pipeline run per database at a time
JSON_FIELDS = frozenset({"mode_reasons", "timings"})


@contextmanager
def pipeline_lock(engine: Engine, wait_seconds: float = 0.0) -> Iterator[None]:
    """Hold the database's pipeline lock for the block; wait up to `wait_seconds`, then fail fast."""
    connection = engine.connect()
    acquired = False
    try:
        deadline = time.monotonic() + wait_seconds
        while not run_sql_file(connection, "pipeline/try_lock.sql", {"key": PIPELINE_LOCK_KEY}).scalar():
            if time.monotonic() >= deadline:
                holder = run_sql_file(connection, "pipeline/lock_holder.sql", {"key": PIPELINE_LOCK_KEY}).first()
                who = f" (held by backend pid {holder.pid} since {holder.backend_start:%Y-%m-%d %H:%M:%S})" if holder else ""
                raise RunInProgressError(
                    f"another segmentation run is in progress on this database{who}; "
                    "wait for it to finish or pass a longer lock wait")
            time.sleep(1.0)
        acquired = True
        connection.commit()
        yield
    finally:
        try:
            if acquired:
                connection.rollback()
                run_sql_file(connection, "pipeline/release_lock.sql", {"key": PIPELINE_LOCK_KEY})
                connection.commit()
        finally:
            connection.close()


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


@dataclass
class RunRecord:
    """One run's row, kept as the run goes: which stage is running (named if it fails), how long each took,
    the counts and decisions recorded after each stage, and how the run ended."""

    engine: Engine
    run_id: int
    current_stage: str = "start"
    timings: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        self.current_stage = name
        started = time.perf_counter()
        yield
        self.timings[name] = round(time.perf_counter() - started, 3)

    def update(self, **fields: object) -> None:
        update_run(self.engine, self.run_id, **fields)

    def succeeded(self, **fields: object) -> None:
        update_run(self.engine, self.run_id, **fields, timings=self.timings)
        finish_run(self.engine, self.run_id, status="succeeded")

    def failed(self, error: BaseException) -> None:
        update_run(self.engine, self.run_id, timings=self.timings)
        finish_run(self.engine, self.run_id, status="failed", failed_stage=self.current_stage, error=str(error))


@contextmanager
def recorded_run(engine: Engine, *, mode_requested: str, recipe_name: str, parameters: dict,
                 flow_run_id: str | None = None) -> Iterator[RunRecord]:
    """A new run row for the block; an exception escaping the block marks the run failed at the stage it
    was in, then propagates. The block records success itself (RunRecord.succeeded) once it has published."""
    record = RunRecord(engine, start_run(engine, mode_requested=mode_requested, recipe_name=recipe_name,
                                         parameters=parameters, flow_run_id=flow_run_id))
    try:
        yield record
    except Exception as error:
        record.failed(error)
        raise
