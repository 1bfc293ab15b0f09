"""Runs under faults: killed runs, lost connections and locks, long readers, failing reports, the reader role.

Each test makes the fault happen for real on the session's PostgreSQL (a process killed with SIGKILL, a
backend terminated with pg_terminate_backend, a server that ends idle sessions, a reader's open
transaction) and checks what the pipeline promises: the published segments stay as they were or become
the new run's whole, every run's row tells the truth, and nothing is left behind.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tasks.db.migrations import MIGRATION_LOCK_KEY, upgrade_schema
from tasks.db.server import create_db_engine
from tasks.db.sql import libpq_uri, read_arrays
from tasks.db.transient import is_transient_database_error
from tasks.errors import (
    ExpectationsNotEvaluatedError,
    LockLostError,
    MigrationError,
    PublishBlockedError,
    RunInProgressError,
    ValidationFailedError,
)
from tasks.features.recipes import load_recipe
from tasks.load.customers_file import load_customers_file
from tasks.pipeline.record import PIPELINE_LOCK_KEY, pipeline_lock, start_run, update_run
from tasks.pipeline.stages import RunInputs, RunResult, run_pipeline
from tasks.report.bands import load_bands
from tasks.settings import SAMPLE_DATA
from tasks.validation import ValidationConfig, raise_on_contract_failures, store_outcomes
from tasks.validation.gx_runner import run_suite

FOUR_SEGMENTS = load_recipe("default").model_copy(update={"k": 4})
SEGMENTS = str(Path(sys.executable).parent / "segments")
PATIENCE_SECONDS = 600  # an upper bound on waits for another process, never a measure of speed

# Everything a campaign tool can read, and the model registry, each as one digest of its rows.
PUBLISHED_TABLES = ["segmentation.customer_segments", "segmentation.segment_history", "segmentation.segment_profiles",
                    "segmentation.models", "segmentation.model_segments", "segmentation.campaign_audience",
                    "segmentation.tier_movements", "segmentation.latest_profiles"]


def published_digest(engine: Engine) -> dict[str, str]:
    """Each published table's rows, as text, hashed: equal digests are byte-identical contents."""
    with engine.connect() as connection:
        return {table: connection.scalar(sa.text(
            f"SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {table} AS t"))  # noqa: S608
            for table in PUBLISHED_TABLES}


def run_row(engine: Engine, run_id: int) -> sa.RowMapping:
    with engine.connect() as connection:
        return connection.execute(sa.text("SELECT * FROM segmentation.pipeline_runs WHERE run_id = :r"),
                                  {"r": run_id}).mappings().one()


def published_runs(engine: Engine) -> list[int]:
    with engine.connect() as connection:
        return list(connection.scalars(sa.text("SELECT DISTINCT run_id FROM segmentation.customer_segments")))


def run(engine: Engine, mode: str = "auto", log: logging.Logger | None = None, **inputs: object) -> RunResult:
    """One run as the flow makes it, without Prefect (and, unless told, without validation and the HTML report)."""
    return run_pipeline(engine, RunInputs(**{"recipe": FOUR_SEGMENTS, "mode": mode, "validation": None, **inputs}),
                        log=log)


def segments(*args: str, **popen: object) -> subprocess.CompletedProcess:
    return subprocess.run([SEGMENTS, *args], capture_output=True, text=True, timeout=PATIENCE_SECONDS,
                          env={**os.environ, "COLUMNS": "200"}, **popen)


def wait_for(condition: Callable[[], object], what: str) -> object:
    deadline = time.monotonic() + PATIENCE_SECONDS
    while time.monotonic() < deadline:
        if found := condition():
            return found
        time.sleep(0.2)
    pytest.fail(f"gave up waiting for {what}")


def lock_holder_pid(engine: Engine, key: int) -> int | None:
    with engine.connect() as connection:
        return connection.scalar(sa.text(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1 "
            "AND classid = CAST(:high AS bigint)::oid AND objid = CAST(:low AS bigint)::oid"),
            {"high": key >> 32, "low": key & 0xFFFFFFFF})


def terminate(engine: Engine, pid: int) -> None:
    with engine.connect() as connection:
        assert connection.scalar(sa.text("SELECT pg_terminate_backend(:pid, 60000)"), {"pid": pid})


def publishing_sessions(engine: Engine) -> list[int]:
    """The sessions inside a publish transaction: they have written this run's segment profiles."""
    with engine.connect() as connection:
        return list(connection.scalars(sa.text(
            "SELECT DISTINCT pid FROM pg_locks WHERE relation = 'segmentation.segment_profiles'::regclass "
            "AND mode = 'RowExclusiveLock' AND pid <> pg_backend_pid()")))


@pytest.fixture
def loaded(clean_db: Engine) -> Engine:
    load_customers_file(clean_db, SAMPLE_DATA)
    return clean_db


@pytest.fixture
def published(loaded: Engine) -> Engine:
    """The sample, segmented and published once."""
    run(loaded, mode="retrain")
    return loaded


@contextmanager
def long_reader(engine: Engine) -> Iterator[int]:
    """A reader's transaction that has read the published segments and stays open (an analyst's query, an
    idle BI session): it holds its lock on segmentation.customer_segments until it ends. Yields its pid."""
    connection = engine.connect()
    try:
        connection.begin()
        connection.scalar(sa.text("SELECT count(*) FROM segmentation.campaign_audience"))
        yield connection.scalar(sa.text("SELECT pg_backend_pid()"))
    finally:
        connection.rollback()
        connection.close()


class Messages(logging.Handler):
    """The log messages that contain `text`, as they come."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text, self.seen = text, []

    def emit(self, record: logging.LogRecord) -> None:
        if self.text in record.getMessage():
            self.seen.append(record.getMessage())


def logger_seeing(text: str) -> tuple[logging.Logger, Messages]:
    logger = logging.getLogger(f"tests.faults.{len(text)}.{time.monotonic_ns()}")
    messages = Messages(text)
    logger.addHandler(messages)
    logger.setLevel(logging.INFO)
    return logger, messages


# -- a killed run, a terminated connection: the published state stays as it was ------------------------------
def test_a_segments_run_killed_during_publish_changes_nothing_published_and_leaves_no_process(published, tmp_path):
    """SIGKILL while the run is inside its publish transaction (kept there by a reader's open transaction):
    the segments stay byte-identical, the run's temporary Prefect server dies with it, and the next run marks
    it abandoned at publish and succeeds."""
    before = published_digest(published)
    output = tmp_path / "segments-run.log"
    with long_reader(published), output.open("w") as log:
        process = subprocess.Popen([SEGMENTS, "run", "--mode", "reassign", "--k", "4"], stdout=log,
                                   stderr=subprocess.STDOUT, env={**os.environ, "COLUMNS": "200"})

        def inside_its_publish() -> list[int]:
            if process.poll() is not None:
                pytest.fail(f"segments run ended before it published: {output.read_text()[-3000:]}")
            return publishing_sessions(published)

        wait_for(inside_its_publish, "the run to be inside its publish transaction")
        children = psutil.Process(process.pid).children(recursive=True)
        assert children, "segments run has no temporary Prefect server"
        process.send_signal(signal.SIGKILL)
        process.wait()
        wait_for(lambda: not publishing_sessions(published), "the server to roll the killed publish back")

    assert published_digest(published) == before
    _, alive = psutil.wait_procs(children, timeout=PATIENCE_SECONDS)
    assert not alive, f"left behind: {[' '.join(child.cmdline()) for child in alive]}"
    with published.connect() as connection:
        killed = connection.scalar(sa.text("SELECT max(run_id) FROM segmentation.pipeline_runs"))
    assert (run_row(published, killed)["status"], run_row(published, killed)["stage"]) == ("running", "publish")

    after = run(published, mode="reassign")
    row = run_row(published, killed)
    assert (row["status"], row["failed_stage"], row["abandoned_by_run_id"]) == ("abandoned", "publish", after.run_id)
    assert row["finished_at"] is not None and row["error"].startswith("left running: its process ended")
    assert run_row(published, after.run_id)["status"] == "succeeded"
    assert published_runs(published) == [after.run_id]


def test_a_connection_terminated_during_publish_changes_nothing_published(published):
    before = published_digest(published)

    def terminate_the_publishing_session(step: str) -> None:
        if step == "segment_profiles":
            (publishing,) = publishing_sessions(published)
            terminate(published, publishing)

    with pytest.raises(sa.exc.OperationalError) as raised:
        run(published, mode="reassign", after_publish_step=terminate_the_publishing_session)

    assert is_transient_database_error(raised.value)  # the flow's stage retries it
    assert published_digest(published) == before
    with published.connect() as connection:
        failed = connection.scalar(sa.text("SELECT max(run_id) FROM segmentation.pipeline_runs"))
    assert (run_row(published, failed)["status"], run_row(published, failed)["failed_stage"]) == ("failed", "publish")
    after = run(published, mode="reassign")
    assert published_runs(published) == [after.run_id] and run_row(published, after.run_id)["status"] == "succeeded"


# -- runs that died are accounted for ------------------------------------------------------------------------
def test_a_run_left_running_is_marked_abandoned_by_the_next_run_which_says_so(published):
    killed = start_run(published, mode_requested="auto", recipe_name="default", parameters={}, flow_run_id=None)
    update_run(published, killed, stage="build-features")  # as a run killed while building features leaves it

    after = run(published, mode="reassign")

    row = run_row(published, killed)
    assert (row["status"], row["failed_stage"], row["abandoned_by_run_id"]) == ("abandoned", "build-features",
                                                                                 after.run_id)
    assert row["finished_at"] is not None and "before run" in row["error"]
    said = f"run {killed} (started "
    note = next(note for note in after.report.summary.notes() if note.startswith(said))
    assert note.endswith("was left running at stage build-features: marked abandoned by this run")
    assert note in after.report.summary.as_text() and note in after.report.summary.markdown()
    shown = segments("show")
    assert shown.returncode == 0, shown.stderr
    assert f"Segments published by run {after.run_id}" in shown.stdout and note in shown.stdout


def test_a_run_killed_after_its_publish_committed_is_succeeded_not_abandoned(published):
    with published.connect() as connection:
        killed = connection.scalar(sa.text("SELECT max(run_id) FROM segmentation.pipeline_runs"))
    # As a process killed between its publish's commit and the record of its success leaves its row.
    update_run(published, killed, status="running", rows_published=None, stage="publish")
    with published.begin() as connection:
        connection.execute(sa.text("UPDATE segmentation.pipeline_runs SET finished_at = NULL WHERE run_id = :r"),
                           {"r": killed})

    after = run(published, mode="reassign")

    row = run_row(published, killed)
    assert (row["status"], row["rows_published"], row["failed_stage"]) == ("succeeded", 2240, None)
    assert row["report_error"].startswith("no report: the run's process ended after its publish had committed")
    assert any(note.endswith("after its publish committed: marked succeeded") for note in after.report.summary.notes())


# -- the run lock is fenced ----------------------------------------------------------------------------------
def terminate_the_lock_session(engine: Engine) -> None:
    holder = lock_holder_pid(engine, PIPELINE_LOCK_KEY)
    assert holder is not None
    terminate(engine, holder)


def test_a_run_whose_lock_session_is_terminated_stops_before_publishing(published):
    before = published_digest(published)

    with pytest.raises(LockLostError, match="this run lost the database's pipeline lock"):
        run(published, mode="reassign", before_audit=terminate_the_lock_session)

    assert published_digest(published) == before
    with published.connect() as connection:
        lost = connection.scalar(sa.text("SELECT max(run_id) FROM segmentation.pipeline_runs"))
    row = run_row(published, lost)
    assert (row["status"], row["failed_stage"]) == ("failed", "publish") and "lost the database's pipeline lock" \
        in row["error"]
    after = run(published, mode="reassign")
    assert published_runs(published) == [after.run_id]


def test_after_a_run_loses_its_lock_only_the_run_that_took_the_lock_publishes(published):
    took_over: list[RunResult] = []

    def another_run_takes_the_lock(engine: Engine) -> None:
        terminate_the_lock_session(engine)
        took_over.append(run(engine, mode="reassign"))

    with pytest.raises(LockLostError, match="lost the database's pipeline lock"):
        run(published, mode="reassign", before_audit=another_run_takes_the_lock)

    (second,) = took_over
    assert published_runs(published) == [second.run_id]
    with published.connect() as connection:
        runs = connection.execute(sa.text("SELECT run_id, status, failed_stage FROM segmentation.pipeline_runs "
                                          "ORDER BY run_id")).all()
    first = second.run_id - 1
    assert [tuple(row) for row in runs[-2:]] == [(first, "failed", "publish"), (second.run_id, "succeeded", None)]
    # The run that took the lock found the first left running, and said so; the first then ended as it did.
    assert [abandoned["run_id"] for abandoned in second.report.summary.abandoned] == [first]


@pytest.fixture
def idle_timeout_database(engine: Engine) -> Iterator[Engine]:
    """A database on the session's server that ends sessions idle for 2 s (as managed PostgreSQL services are
    often set up), migrated, with the sample loaded."""
    name = f"segments_idle_timeout_{os.getpid()}"
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as admin:
        admin.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.exec_driver_sql(f'CREATE DATABASE "{name}"')
        admin.exec_driver_sql(f"ALTER DATABASE \"{name}\" SET idle_session_timeout = '2s'")
    other = create_db_engine(engine.url.set(database=name))
    try:
        upgrade_schema(other)
        load_customers_file(other, SAMPLE_DATA)
        yield other
    finally:
        other.dispose()
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as admin:
            admin.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_a_server_that_ends_idle_sessions_does_not_end_a_run(idle_timeout_database):
    with idle_timeout_database.connect() as idle:
        idle.scalar(sa.text("SELECT 1"))
        idle.commit()
        time.sleep(3)  # idle past the server's timeout
        with pytest.raises(sa.exc.OperationalError, match="idle-session timeout|closed the connection"):
            idle.scalar(sa.text("SELECT 1"))

    # The run's lock session idles from its first stage to its last, and the run pauses past the timeout.
    result = run(idle_timeout_database, mode="retrain", validation=ValidationConfig(),
                 before_audit=lambda engine: time.sleep(3))

    assert run_row(idle_timeout_database, result.run_id)["status"] == "succeeded"
    assert published_runs(idle_timeout_database) == [result.run_id]


# -- a long reader delays the publish, not the other readers ---------------------------------------------------
def test_a_long_reader_delays_the_publish_while_new_readers_keep_getting_answers(published):
    first = published_runs(published)
    logger, retries = logger_seeing("segmentation.customer_segments is held by")
    outcome: dict[str, object] = {}

    def second_run() -> None:
        try:
            outcome["result"] = run(published, mode="reassign", log=logger, publish_wait_seconds=PATIENCE_SECONDS)
        except Exception as error:  # noqa: BLE001 (checked below)
            outcome["error"] = error

    with long_reader(published) as reader_pid:
        publishing = threading.Thread(target=second_run)
        publishing.start()
        wait_for(lambda: retries.seen or not publishing.is_alive(), "the publish to wait for the long reader")
        assert f"backend pid {reader_pid}" in retries.seen[0]
        for _ in range(5):  # each a new reader, while the publish holds its transaction open
            with published.connect() as reader:
                reader.exec_driver_sql("SET statement_timeout = '60s'")  # a bound: queued readers would hit it
                answer = reader.execute(sa.text("SELECT count(*), min(run_id), max(run_id) "
                                                "FROM segmentation.campaign_audience")).one()
            assert tuple(answer) == (2240, *first, *first)
        seen = len(retries.seen)
        wait_for(lambda: len(retries.seen) > seen, "the publish to try again")  # still waiting, throughout
    publishing.join(timeout=PATIENCE_SECONDS)

    assert "error" not in outcome, outcome.get("error")
    second = outcome["result"]
    assert published_runs(published) == [second.run_id] and run_row(published, second.run_id)["status"] == "succeeded"


def test_a_publish_blocked_longer_than_its_wait_fails_keeping_the_last_segments(published):
    before = published_digest(published)
    with long_reader(published) as reader_pid:
        with pytest.raises(PublishBlockedError, match=rf"for longer than the publish waits \(1s.*backend pid "
                                                      rf"{reader_pid}.*the segments published before are kept"):
            run(published, mode="reassign", publish_wait_seconds=1)
        with published.connect() as reader:  # readers were never kept waiting
            assert reader.scalar(sa.text("SELECT count(*) FROM segmentation.campaign_audience")) == 2240
    assert published_digest(published) == before
    with published.connect() as connection:
        blocked = connection.scalar(sa.text("SELECT max(run_id) FROM segmentation.pipeline_runs"))
    assert (run_row(published, blocked)["status"], run_row(published, blocked)["failed_stage"]) == ("failed",
                                                                                                  "publish")


# -- transient errors, whichever library raised them -----------------------------------------------------------
def refused_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # nothing listens there once the probe is closed


def test_connection_errors_are_transient_whichever_library_raised_them_and_bad_data_is_not(engine):
    import psycopg

    ends_its_session = "SELECT pg_terminate_backend(pg_backend_pid())"
    raised: dict[str, BaseException] = {}
    with pytest.raises(psycopg.OperationalError) as dropped, psycopg.connect(libpq_uri(engine.url)) as connection:
        connection.execute(ends_its_session)
    raised["psycopg"] = dropped.value
    with pytest.raises(sa.exc.OperationalError) as dropped, engine.connect() as connection:
        connection.exec_driver_sql(ends_its_session)
    raised["SQLAlchemy"] = dropped.value
    with pytest.raises(Exception, match=r"\[libpq\].*terminating connection") as dropped:
        read_arrays(engine, f"{ends_its_session}::int AS x", None, {"x": "i4"})
    raised["ADBC"] = dropped.value
    unreachable = create_db_engine(engine.url.set(port=refused_port()))
    with pytest.raises(Exception, match="(?i)refused|could not connect") as dropped:
        run_suite(unreachable, suite_name="features", schema="segmentation_work", table="customer_features",
                  parameters={}, docs=None)
    raised["GX"] = dropped.value
    assert {library: is_transient_database_error(error) for library, error in raised.items()} == {
        "psycopg": True, "SQLAlchemy": True, "ADBC": True, "GX": True}

    with pytest.raises(sa.exc.DataError) as bad_data, engine.connect() as connection:
        connection.exec_driver_sql("SELECT 1 / 0")
    assert not is_transient_database_error(bad_data.value)
    assert not is_transient_database_error(ValidationFailedError("customer_id is not unique"))


@pytest.fixture
def features_that_drop_the_connection(published: Engine) -> Iterator[tuple[str, str]]:
    """A copy of the run's features behind a view whose reads end their own session, all but the first (GX's
    check that the table is there): GX's queries of the suite lose their connection."""
    with published.begin() as connection:
        connection.exec_driver_sql("""
            CREATE SCHEMA faults;
            CREATE SEQUENCE faults.reads;
            CREATE TABLE faults.features AS SELECT * FROM segmentation_work.customer_features;
            CREATE FUNCTION faults.connection_drops() RETURNS boolean LANGUAGE sql VOLATILE AS
                $$ SELECT nextval('faults.reads') <= 1 OR pg_terminate_backend(pg_backend_pid()) $$;
            CREATE VIEW faults.customer_features AS SELECT * FROM faults.features WHERE faults.connection_drops();
        """)
    try:
        yield "faults", "customer_features"
    finally:
        with published.begin() as connection:
            connection.exec_driver_sql("DROP SCHEMA faults CASCADE")


def test_an_expectation_gx_could_not_evaluate_is_an_error_not_a_failed_check(published,
                                                                             features_that_drop_the_connection):
    schema, table = features_that_drop_the_connection
    run_id = start_run(published, mode_requested="auto", recipe_name="default", parameters={}, flow_run_id=None)

    outcomes = run_suite(published, suite_name="features", schema=schema, table=table, parameters={}, docs=None)
    store_outcomes(published, run_id, outcomes)
    with pytest.raises(ExpectationsNotEvaluatedError, match="could not be evaluated.*terminating connection") as raised:
        raise_on_contract_failures(outcomes, "the computed features")

    assert is_transient_database_error(raised.value)  # the flow's stage retries it
    with published.connect() as connection:
        stored = connection.execute(sa.text(
            "SELECT success, error, unexpected_count FROM segmentation_restricted.validation_results "
            "WHERE run_id = :r"), {"r": run_id}).all()
    assert stored and all(success is None and "terminating connection" in error and count is None
                          for success, error, count in stored)


# -- a report's failure is the report's ----------------------------------------------------------------------
def test_a_report_that_fails_after_the_publish_leaves_the_run_succeeded(loaded, tmp_path):
    (tmp_path / "reports").write_text("a file where the reports directory goes")

    result = run(loaded, mode="retrain", report_state_dir=tmp_path, bands=load_bands(None))

    assert result.report is None and result.report_error
    row = run_row(loaded, result.run_id)
    assert (row["status"], row["failed_stage"], row["rows_published"]) == ("succeeded", None, 2240)
    assert row["report_error"] == result.report_error
    assert published_runs(loaded) == [result.run_id]


def test_segments_run_whose_report_fails_exits_published_and_segments_show_says_so(loaded):
    from tasks.settings import get_settings

    reports = get_settings().state_dir / "reports"
    kept = reports.with_name("reports.kept")
    if reports.is_dir():
        reports.rename(kept)
    reports.write_text("a file where the reports directory goes")
    try:
        ran = segments("run", "--k", "4")
    finally:
        reports.unlink()
        if kept.is_dir():
            kept.rename(reports)

    assert ran.returncode == 0, ran.stderr
    with loaded.connect() as connection:
        run_id = connection.scalar(sa.text("SELECT max(run_id) FROM segmentation.pipeline_runs"))
    assert f"warning: run {run_id} published its segments, but its report failed" in " ".join(ran.stderr.split())
    row = run_row(loaded, run_id)
    assert (row["status"], row["failed_stage"]) == ("succeeded", None) and row["report_error"]
    shown = segments("show")
    assert shown.returncode == 0, shown.stderr
    assert f"Segments published by run {run_id}" in shown.stdout
    assert f"run {run_id} published its segments, but its report failed" in " ".join(shown.stdout.split())


def test_segments_show_says_what_became_of_the_runs_since_the_published_one(published):
    failed = start_run(published, mode_requested="auto", recipe_name="default", parameters={}, flow_run_id=None)
    update_run(published, failed, status="failed", failed_stage="validate", error="the source shrank")
    shown = segments("show")
    assert shown.returncode == 0, shown.stderr
    assert f"since: run {failed} failed at stage validate: the source shrank" in shown.stdout


# -- the reader role -----------------------------------------------------------------------------------------
def test_the_reader_role_is_denied_quarantined_records_and_failing_values_but_reads_their_counts(loaded):
    result = run(loaded, mode="retrain", validation=ValidationConfig())
    with loaded.connect() as connection, connection.begin():
        assert connection.scalar(sa.text("SELECT count(*) FROM segmentation_restricted.validation_results "
                                         "WHERE run_id = :r AND sample_values <> '[]'"), {"r": result.run_id})
        connection.exec_driver_sql("SET LOCAL ROLE segments_reader")
        for statement in ["SELECT record FROM segmentation_restricted.quarantined_customers",
                          "SELECT customer_id, reasons FROM segmentation_restricted.quarantined_customers",
                          "SELECT sample_values FROM segmentation_restricted.validation_results",
                          "SELECT count(*) FROM segmentation_restricted.validation_results"]:
            with pytest.raises(sa.exc.ProgrammingError, match="permission denied"), connection.begin_nested():
                connection.exec_driver_sql(statement)
        reasons = dict(connection.execute(sa.text(
            "SELECT reason, customers FROM segmentation.quarantine_reasons WHERE run_id = :r"),
            {"r": result.run_id}).all())
        assert reasons == {"missing_income": 24, "implausible_birth_year": 3}
        outcomes = connection.execute(sa.text("SELECT * FROM segmentation.validation_outcomes WHERE run_id = :r"),
                                      {"r": result.run_id}).mappings().all()
        assert outcomes and not {"sample_values", "observed_value"} & set(outcomes[0])
        assert any(outcome["success"] is False and outcome["unexpected_count"] == 24 for outcome in outcomes)


# -- locks a reader can take ---------------------------------------------------------------------------------
@pytest.fixture
def reader_login(engine: Engine) -> Iterator[Engine]:
    """A campaign tool's login in the segments_reader role (roles belong to the server: dropped afterwards)."""
    role = f"segments_faults_reader_{os.getpid()}"
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as admin:
        admin.exec_driver_sql(f'DROP ROLE IF EXISTS "{role}"')
        admin.exec_driver_sql(f'CREATE ROLE "{role}" LOGIN IN ROLE segments_reader')
    reader = create_db_engine(engine.url.set(username=role, password=None))
    try:
        yield reader
    finally:
        reader.dispose()
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as admin:
            admin.exec_driver_sql(f'DROP ROLE IF EXISTS "{role}"')


def test_a_reader_holding_the_pipelines_lock_keys_is_named_and_not_waited_for_forever(engine, reader_login):
    role = reader_login.url.username
    with reader_login.connect() as reader:
        pid = reader.scalar(sa.text("SELECT pg_backend_pid()"))
        reader.execute(sa.text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        assert reader.scalar(sa.text("SELECT pg_try_advisory_lock(:key)"), {"key": PIPELINE_LOCK_KEY})
        reader.commit()

        with pytest.raises(MigrationError, match=rf"migration lock is held by backend pid {pid} \(role {role}"):
            upgrade_schema(engine, lock_wait_seconds=1)
        with pytest.raises(RunInProgressError, match=rf"not a segmentation run \(backend pid {pid} since .*, role "
                                                     rf"{role}, .*which may not record runs\)"):
            with pipeline_lock(engine):
                pytest.fail("the lock was granted while the reader held it")

    reader_login.dispose()  # the reader's session ends, and its locks with it
    upgrade_schema(engine, lock_wait_seconds=1)
    with pipeline_lock(engine):
        pass


def _ctrl_c_as_at_a_terminal() -> None:
    """In the child, before it starts: SIGINT as a terminal delivers it. Under a shell's background job (a CI
    runner started with `&`) SIGINT is ignored, and a Python started with it ignored keeps ignoring it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_a_command_waiting_for_the_migration_lock_answers_ctrl_c(engine, reader_login):
    with reader_login.connect() as reader:
        reader.execute(sa.text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        reader.commit()
        process = subprocess.Popen([SEGMENTS, "load", str(SAMPLE_DATA)], stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True, env={**os.environ, "COLUMNS": "200"},
                                   preexec_fn=_ctrl_c_as_at_a_terminal)

        def waiting_for_the_lock() -> bool:
            if process.poll() is not None:
                pytest.fail(f"segments load ended: {process.stderr.read()}")
            with engine.connect() as connection:
                return bool(connection.scalar(sa.text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
                    "AND objid = CAST(:low AS bigint)::oid"), {"low": MIGRATION_LOCK_KEY & 0xFFFFFFFF}))

        wait_for(waiting_for_the_lock, "segments load to wait for the migration lock")
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=PATIENCE_SECONDS)

    assert process.returncode != 0 and "loaded" not in stdout
    assert "Traceback" not in stderr
