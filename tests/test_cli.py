"""The `segments` command as a user runs it."""

from __future__ import annotations

import importlib.metadata
import os
import re
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

SEGMENTS = str(Path(sys.executable).parent / "segments")


def segments(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([SEGMENTS, *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "COLUMNS": "200", **(env or {})})


def test_help_lists_the_commands():
    result = segments("--help")
    assert result.returncode == 0
    for command in ("load", "run", "show", "db-url", "sql", "db"):
        assert command in result.stdout


def test_db_url_masks_the_password():
    result = segments("db-url", env={"DATABASE_URL": "postgresql://campaign:hunter2@db.internal:5432/crm"})
    assert result.returncode == 0
    assert result.stdout.strip() == "postgresql+psycopg://campaign:***@db.internal:5432/crm"


def test_load_of_a_bad_file_exits_with_a_clear_message(engine, tmp_path):
    bad = tmp_path / "customers.csv"
    bad.write_text("ID,Year_Birth\n1,1970\n")
    result = segments("load", str(bad))
    assert result.returncode == 1
    assert "missing required column(s)" in result.stderr and "education (header Education)" in result.stderr


def test_invalid_run_parameters_are_refused_before_any_work(engine):
    result = segments("run", "--k", "1")
    assert result.returncode == 1
    assert "invalid parameters: k: Input should be greater than or equal to 2" in result.stderr


def test_trigger_without_a_prefect_server_says_how_to_start_one(engine):
    result = segments("trigger", "--param", "k=4", env={"PREFECT_API_URL": ""})
    assert result.returncode == 1
    assert "no Prefect server: start one with `segments serve`" in result.stderr


def test_run_has_an_option_for_every_run_parameter():
    from tasks.parameters import RunParameters

    result = segments("run", "--help")
    assert result.returncode == 0
    for name in RunParameters.model_fields:
        assert re.search(rf"--{name.replace('_', '-')}(?![\w-])", result.stdout), f"no option for {name}"


def test_run_options_reach_the_model_and_its_validation():
    result = segments("run", "--max-row-count-drop", "1.5", "--max-model-age-days", "-1", "--psi-threshold", "0",
                      "--silhouette-floor", "2")
    assert result.returncode == 1
    message = " ".join(result.stderr.split())  # the console wraps long lines
    for refusal in ("max_row_count_drop: Input should be less than or equal to 1",
                    "max_model_age_days: Input should be greater than or equal to 0",
                    "psi_threshold: Input should be greater than 0",
                    "silhouette_floor: Input should be less than or equal to 1"):
        assert refusal in message


def test_run_passes_only_the_options_given_parsed_to_the_model():
    from typer.main import get_command

    from flows.cli import app, run_parameters_from_options

    command = get_command(app).commands["run"]
    context = command.make_context("run", ["--psi-threshold", "0.35", "--as-of", "2024-05-01", "--mode", "retrain",
                                           "--dry-run"])
    parameters = run_parameters_from_options(context.params)
    assert parameters.psi_threshold == 0.35
    assert parameters.as_of == date(2024, 5, 1)
    assert parameters.mode == "retrain"
    assert parameters.dry_run is True
    assert parameters.model_fields_set == {"psi_threshold", "as_of", "mode", "dry_run"}  # the rest: the model's


def test_sql_runs_the_query_read_only(engine):
    result = segments("sql", "CREATE TABLE public.written_by_segments_sql (id int)")
    assert result.returncode == 1
    assert "read-only transaction" in result.stderr


def test_show_before_any_published_run_says_what_to_do(clean_db):
    result = segments("show")
    assert result.returncode == 1
    assert "run `segments run` first" in result.stderr


def side_by_side(*commands: tuple[str, ...]) -> list[subprocess.CompletedProcess]:
    """Several `segments` commands run at once (each is mostly start-up)."""
    started = [(command, subprocess.Popen([SEGMENTS, *command], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                          text=True, env={**os.environ, "COLUMNS": "80"})) for command in commands]
    finished = [(command, process, *process.communicate(timeout=300)) for command, process in started]
    return [subprocess.CompletedProcess(command, process.returncode, stdout, stderr)
            for command, process, stdout, stderr in finished]


def one_error_line(result: subprocess.CompletedProcess) -> str:
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.returncode == 1 and len(errors) == 1 and "Traceback" not in result.stderr, result.stderr
    return errors[0]


def test_sql_cannot_leave_its_read_only_session(engine):
    from tasks.db.read_only import run_read_only
    from tasks.errors import QueryError

    escapes = ["COMMIT; CREATE TABLE public.escaped_segments_sql (id int)",
               "SET default_transaction_read_only = off; CREATE TABLE public.escaped_segments_sql (id int)",
               "BEGIN READ WRITE; CREATE TABLE public.escaped_segments_sql (id int)"]
    for text in escapes:
        with pytest.raises(QueryError, match="^segments sql runs one statement at a time"):
            run_read_only(engine, text)
    run_read_only(engine, "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE")  # allowed: its session ends
    with pytest.raises(QueryError, match="read-only transaction"):
        run_read_only(engine, "CREATE TABLE public.escaped_segments_sql (id int)")
    with engine.connect() as connection:
        assert connection.scalar(sa.text("SELECT to_regclass('public.escaped_segments_sql')")) is None
    assert "runs one statement at a time" in one_error_line(segments("sql", escapes[0]))


def test_sql_errors_end_in_one_clean_line(engine):
    from tasks.db.read_only import run_read_only
    from tasks.errors import QueryError

    for text in ["SELECT :x", "SELECT 1; SELECT 2", "", " ; ", "SELEC 1", "SELECT 1/0", "SELECT * FROM no_such_table",
                 "SELECT pg_terminate_backend(pg_backend_pid())"]:
        with pytest.raises(QueryError) as refused:
            run_read_only(engine, text)
        assert "\n" not in str(refused.value) and len(str(refused.value)) < 200
    for result in side_by_side(("sql", "SELECT :x"), ("sql", "")):
        assert one_error_line(result) in ('error: syntax error at or near ":" (at character 8)',
                                          'error: no statement given: segments sql "SELECT ..."')


def test_sql_prints_what_the_database_returns_as_text(engine):
    result = segments("sql", "SELECT '[bold]x[/] :x: 100%' AS \"[/]\"")
    assert result.returncode == 0, result.stderr
    assert "[bold]x[/] :x: 100%" in result.stdout and "[/]" in result.stdout.splitlines()[1]


def test_an_unexpected_error_is_one_line_and_debug_shows_where(tmp_path):
    script = tmp_path / "segments_with_a_bug.py"
    script.write_text("import sys\nfrom flows.cli import app\n\n\n@app.command()\ndef bug() -> None:\n"
                      "    raise KeyError('a bug')\n\n\nsys.exit(app())\n")
    plain = subprocess.run([sys.executable, str(script), "bug"], capture_output=True, text=True, timeout=300)
    debug = subprocess.run([sys.executable, str(script), "--debug", "bug"], capture_output=True, text=True,
                           timeout=300)
    assert one_error_line(plain) == "error: KeyError: 'a bug' (unexpected: rerun with --debug to see where)"
    assert debug.returncode == 1 and "Traceback" in debug.stderr and "raise KeyError('a bug')" in debug.stderr


def test_a_recipe_name_of_300_characters_is_refused_in_one_line():
    line = one_error_line(segments("run", "--recipe", "r" * 300))
    assert "invalid parameters: recipe: String should have at most 200 characters" in line


def test_a_logged_error_reaches_the_console_without_its_stack():
    """As Prefect logs a failed flow run's error, for `segments run`."""
    import io
    import logging

    from flows.cli import _WithoutTraceback

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(_WithoutTraceback(logging.Formatter("%(levelname)s %(message)s")))
    logger = logging.getLogger("tests.a_flow_run")
    logger.addHandler(handler)
    try:
        raise KeyError("a bug")
    except KeyError:
        logger.exception("Encountered exception during execution")
    finally:
        logger.removeHandler(handler)
    assert stream.getvalue() == "ERROR Encountered exception during execution\n"


def test_orders_loaded_from_a_file_are_segmented_by_the_orders_recipe(clean_db):
    # The user's two commands on the bundled CDNOW orders: every customer gets a segment, a tier, RFM and value.
    orders = Path(__file__).resolve().parent.parent / "data" / "cdnow_orders.csv"
    loaded = segments("load-orders", str(orders))
    assert loaded.returncode == 0, loaded.stderr

    ran = segments("run", "--recipe", "rfm-orders")

    assert ran.returncode == 0, ran.stderr
    # Quiet: nothing a user cannot act on (Prefect's task-timeout notice, the runtime directory, logs the
    # temporary Prefect server was stopped too early to receive).
    output = ran.stdout + ran.stderr
    assert "warning" not in output.lower() and "Error logging to API" not in output, output[-3000:]
    # The temporary server left word that Prefect's database is migrated: the next run's start skips it.
    migrated = Path(os.environ["PREFECT_HOME"]) / "segments-migrated-for-prefect"
    assert migrated.read_text() == importlib.metadata.version("prefect")
    with clean_db.connect() as connection:
        published = connection.execute(sa.text(
            "SELECT count(*), count(c.tier), count(r.customer_id), count(c.expected_value_365d) "
            "FROM segmentation.customer_segments AS c "
            "LEFT JOIN segmentation.customer_rfm AS r USING (customer_id)")).one()
    assert tuple(published) == (2357, 2357, 2357, 2357)


def test_a_run_on_its_own_temporary_server_sends_no_heartbeats():
    """Heartbeats tell a Prefect server that a run's process is alive; a temporary server ends with the run,
    and Prefect's wait for its heartbeat thread would lengthen every run. Other servers keep them."""
    from prefect.settings import get_current_settings

    from flows.cli import _without_heartbeats_for

    default = get_current_settings().flows.heartbeat_frequency
    with _without_heartbeats_for(object()):
        assert get_current_settings().flows.heartbeat_frequency is None
    with _without_heartbeats_for(None):
        assert get_current_settings().flows.heartbeat_frequency == default is not None
