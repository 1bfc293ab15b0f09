"""The run record in segmentation.pipeline_runs, and the lock that allows one run per database."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tasks.errors import RunInProgressError

PIPELINE_LOCK_KEY = 7_204_117_002  # advisory lock: one pipeline run per database at a time


@contextmanager
def pipeline_lock(engine: Engine, wait_seconds: float = 0.0) -> Iterator[None]:
    """Hold the database's pipeline lock for the block; wait up to `wait_seconds`, then fail fast."""
    connection = engine.connect()
    acquired = False
    try:
        deadline = time.monotonic() + wait_seconds
        while not connection.scalar(sa.text("SELECT pg_try_advisory_lock(:key)"), {"key": PIPELINE_LOCK_KEY}):
            if time.monotonic() >= deadline:
                # A bigint advisory key shows in pg_locks as its high (classid) and low (objid) 32 bits.
                holder = connection.execute(sa.text(
                    "SELECT a.pid, a.application_name, a.backend_start FROM pg_locks l "
                    "JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' "
                    "AND l.classid = (CAST(:key AS bigint) >> 32)::oid "
                    "AND l.objid = (CAST(:key AS bigint) & 4294967295)::oid AND l.granted LIMIT 1"),
                    {"key": PIPELINE_LOCK_KEY}).first()
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
                connection.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": PIPELINE_LOCK_KEY})
                connection.commit()
        finally:
            connection.close()


def start_run(engine: Engine, *, mode_requested: str, recipe_name: str, parameters: dict,
              flow_run_id: str | None) -> int:
    with engine.begin() as connection:
        return int(connection.scalar(sa.text(
            "INSERT INTO segmentation.pipeline_runs (flow_run_id, mode_requested, recipe_name, parameters) "
            "VALUES (:flow_run_id, :mode, :recipe, CAST(:parameters AS jsonb)) RETURNING run_id"),
            {"flow_run_id": flow_run_id, "mode": mode_requested, "recipe": recipe_name,
             "parameters": json.dumps(parameters, default=str)}))


def update_run(engine: Engine, run_id: int, **fields: object) -> None:
    """Record progress on the run row (its own transaction, so it survives a failed publish)."""
    if not fields:
        return
    json_fields = {"mode_reasons", "timings"}
    assignments = ", ".join(
        f"{name} = CAST(:{name} AS jsonb)" if name in json_fields else f"{name} = :{name}" for name in fields)
    values = {name: json.dumps(value, default=str) if name in json_fields else value
              for name, value in fields.items()}
    with engine.begin() as connection:
        connection.execute(sa.text(f"UPDATE segmentation.pipeline_runs SET {assignments} WHERE run_id = :run_id"),
                           {**values, "run_id": run_id})


def finish_run(engine: Engine, run_id: int, *, status: str, failed_stage: str | None = None,
               error: str | None = None) -> None:
    with engine.begin() as connection:
        connection.execute(sa.text(
            "UPDATE segmentation.pipeline_runs SET status = :status, finished_at = now(), "
            "failed_stage = :stage, error = :error WHERE run_id = :run_id"),
            {"status": status, "stage": failed_stage, "error": error, "run_id": run_id})
        if status == "failed":
            # A candidate model of a failed run never becomes visible as anything else.
            connection.execute(sa.text(
                "UPDATE segmentation.models SET status = 'retired' WHERE run_id = :run_id AND status = 'candidate'"),
                {"run_id": run_id})


def last_successful_run(connection: sa.Connection) -> sa.Row | None:
    return connection.execute(sa.text(
        "SELECT * FROM segmentation.pipeline_runs WHERE status = 'succeeded' ORDER BY run_id DESC LIMIT 1")).first()
