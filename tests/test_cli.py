"""The `segments` command as a user runs it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import date
from pathlib import Path

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
