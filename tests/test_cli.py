"""The `segments` command as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
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
