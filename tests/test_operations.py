"""Operating the flow under Prefect: the UI form's schema, retries, one run per database, failure states."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from tasks.errors import RunInProgressError, SegmentsError, ValidationFailedError
from tasks.parameters import RunParameters
from tasks.pipeline.record import PIPELINE_LOCK_KEY, pipeline_lock


@pytest.fixture(scope="module")
def prefect_harness() -> Iterator[None]:
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


def test_the_ui_form_describes_bounds_and_defaults_every_parameter():
    from prefect.utilities.callables import parameter_schema

    from flows.nightly import nightly_segmentation

    schema = parameter_schema(nightly_segmentation).model_dump_for_openapi()
    assert list(schema["properties"]) == ["parameters"]
    form = schema["definitions"]["RunParameters"]
    fields = form["properties"]
    assert set(fields) == set(RunParameters.model_fields)
    assert all(field.get("description") for field in fields.values())
    assert {name: field["default"] for name, field in fields.items() if "default" in field} == \
        RunParameters().model_dump(mode="json")
    assert fields["mode"]["enum"] == ["auto", "retrain", "reassign"]
    k_bounds = next(choice for choice in fields["k"]["anyOf"] if choice.get("type") == "integer")
    assert (k_bounds["minimum"], k_bounds["maximum"]) == (2, 30)
    assert (fields["max_quarantine_share"]["minimum"], fields["max_quarantine_share"]["maximum"]) == (0, 1)
    assert any(choice.get("pattern") for choice in fields["as_of"]["anyOf"])  # the API checks dates too
    assert form["additionalProperties"] is False  # a misspelt field is refused, not ignored


def _flaky_then_fine(error: Exception, failures: int):
    calls: list[int] = []

    def stage() -> int:
        calls.append(1)
        if len(calls) <= failures:
            raise error
        return len(calls)

    return stage, calls


def test_a_dropped_connection_is_retried_but_bad_data_is_not(prefect_harness):
    from prefect import flow

    from flows.nightly import pipeline_task

    dropped = sa.exc.OperationalError("SELECT 1", {}, Exception("server closed the connection unexpectedly"))
    transient_stage, transient_calls = _flaky_then_fine(dropped, failures=2)
    bad_data_stage, bad_data_calls = _flaky_then_fine(ValidationFailedError("customer_id is not unique"), failures=1)
    # The production retry policy, without its waits.
    transient = pipeline_task("transient-stage")(transient_stage).with_options(retry_delay_seconds=0)
    bad_data = pipeline_task("bad-data-stage")(bad_data_stage).with_options(retry_delay_seconds=0)

    @flow
    def stages() -> int:
        return transient()

    @flow
    def failing_stage() -> int:
        return bad_data()

    assert stages() == 3 and len(transient_calls) == 3  # two retries, then success
    with pytest.raises(ValidationFailedError, match="not unique"):
        failing_stage()
    assert len(bad_data_calls) == 1


def test_a_stage_whose_adbc_connection_is_terminated_is_retried(engine, prefect_harness):
    """The ADBC driver reports a dropped connection in libpq's words only ("[libpq] ... terminating
    connection"); the stage is retried all the same, as it is for psycopg and SQLAlchemy."""
    from prefect import flow

    from flows.nightly import pipeline_task
    from tasks.db.sql import read_arrays

    attempts: list[int] = []

    def read_through_adbc() -> int:
        attempts.append(1)
        query = "SELECT pg_terminate_backend(pg_backend_pid())::int AS x" if len(attempts) == 1 else "SELECT 7 AS x"
        return int(read_arrays(engine, query, None, {"x": "i4"})["x"][0])

    stage = pipeline_task("adbc-stage")(read_through_adbc).with_options(retry_delay_seconds=0)

    @flow
    def reads_through_adbc() -> int:
        return stage()

    assert reads_through_adbc() == 7 and len(attempts) == 2


def test_pipeline_tasks_have_readable_run_names_and_timeouts():
    from flows.nightly import alongside_task, stage_task
    from tasks.pipeline.stages import SOURCE_CONTRACT, STAGES

    for name in ("prepare-database", SOURCE_CONTRACT, *STAGES):
        stage = stage_task(name)
        assert stage.name == name and stage.task_run_name == name
        assert stage.timeout_seconds and stage.retries == 2
    # A job beside a stage runs in a worker thread, where Prefect cannot enforce a timeout and warns of it
    # at every run: it has none, and the stage waiting for it has its own.
    beside = alongside_task(SOURCE_CONTRACT)
    assert beside.name == SOURCE_CONTRACT and beside.timeout_seconds is None and beside.retries == 2


def test_a_second_run_fails_fast_while_another_holds_the_database(clean_db, prefect_harness):
    from flows.nightly import nightly_segmentation

    with clean_db.connect() as other_run:  # another run, on its own connection, holds the pipeline lock
        assert other_run.scalar(sa.text("SELECT pg_try_advisory_lock(:key)"), {"key": PIPELINE_LOCK_KEY})
        holder_pid = other_run.scalar(sa.text("SELECT pg_backend_pid()"))
        try:
            with pytest.raises(RunInProgressError, match=rf"another segmentation run is in progress on this "
                                                         rf"database \(held by backend pid {holder_pid} since .*\); "
                                                         "wait for it to finish or pass a longer lock wait"):
                with pipeline_lock(clean_db, wait_seconds=0):
                    pytest.fail("the lock was granted twice")
            with pytest.raises(RunInProgressError, match="another segmentation run is in progress"):
                nightly_segmentation(parameters=RunParameters(lock_wait_seconds=0))
        finally:
            other_run.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": PIPELINE_LOCK_KEY})
    with clean_db.connect() as connection:
        assert connection.scalar(sa.text("SELECT count(*) FROM segmentation.pipeline_runs")) == 0
    with pipeline_lock(clean_db):  # released: the next run gets it
        pass


def test_a_failed_run_names_the_stage_and_the_cause_in_its_state(clean_db, sample_path, prefect_harness):
    from flows.nightly import nightly_segmentation
    from tasks.load.customers_file import load_customers_file

    load_customers_file(clean_db, sample_path)
    state = nightly_segmentation(parameters=RunParameters(max_quarantine_share=0.0), return_state=True)

    assert state.is_failed()
    assert state.message.startswith("Flow run encountered an exception: SegmentsError: stage validate failed: 27 of "
                                    "2240 customers (1.2%) failed row-level checks")
    with pytest.raises(SegmentsError, match="stage validate failed"):
        state.result()


def test_trigger_parameters_parse_as_json_or_text():
    from flows.orchestration import parse_parameter_assignments

    assert parse_parameter_assignments(["mode=retrain", "k=4", "dry_run=true", "as_of=2014-06-30", "k_min=null"]) == {
        "mode": "retrain", "k": 4, "dry_run": True, "as_of": "2014-06-30", "k_min": None}
    with pytest.raises(SegmentsError, match="NAME=VALUE"):
        parse_parameter_assignments(["retrain"])


def test_artifact_keys_must_be_lowercase_digits_and_dashes(tmp_path):
    from flows.nightly import link_artifact

    with pytest.raises(ValueError, match="lowercase"):
        link_artifact("Data_Docs", tmp_path / "index.html", "Data Docs")
