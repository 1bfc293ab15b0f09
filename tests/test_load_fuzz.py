"""Hostile customers files (tests/hostile_files.py): each refused cleanly at its line, or loaded as written,
and a refused file never touches the previous load."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from tasks.errors import InputFileError
from tasks.load.csv_checks import DelimitedFile, RecordChunk
from tasks.load.customers_file import load_customers_file
from tests.hostile_files import Loads, Refused, Variant, corpus
from tests.test_cli import SEGMENTS, segments

STATE = """
    SELECT (SELECT count(*) FROM source.loads) AS loads,
           (SELECT max(load_id) FROM source.loads) AS latest,
           (SELECT md5(string_agg(c::text, '|' ORDER BY c.customer_id, c.education_raw)) FROM source.customers AS c)
               AS customers
"""


@pytest.fixture(scope="module")
def variants(sample_path) -> list[Variant]:
    return corpus(sample_path)


def state(engine) -> tuple:
    with engine.connect() as connection:
        return tuple(connection.execute(sa.text(STATE)).one())


def stored(engine, expect: Loads) -> str | None:
    with engine.connect() as connection:
        value = connection.scalar(sa.text(f"SELECT {expect.column}::text FROM source.customers "  # noqa: S608
                                          "WHERE customer_id = :id"), {"id": expect.customer_id})
    return value


def problem_with(variant: Variant, path: Path, engine, before: tuple) -> str | None:
    """What is wrong with how the loader took `variant` (None: it did what the corpus says)."""
    expect = variant.expect
    try:
        result = load_customers_file(engine, path)
    except InputFileError as error:
        if isinstance(expect, Loads):
            return f"refused a valid file: {error}"
        message = str(error)
        wrong = [what for what, holds in [
            ("not one line", "\n" not in message and len(message) < 1500),
            ("does not start with the file", message.startswith(str(path))),
            (f"not at line {expect.line}", re.search(rf", line {expect.line}[,:]", message)),
            (f"not in column {expect.column!r}", expect.column is None or f"column {expect.column!r}" in message),
            (f"does not say {expect.says!r}", expect.says in message),
            ("the previous load changed", state(engine) == before)] if not holds]
        return f"{', '.join(wrong)}: {message[:300]}" if wrong else None
    except Exception as error:  # noqa: BLE001 (what the test is for: nothing else may escape)
        return f"raised {type(error).__name__}: {str(error)[:300]}"
    if isinstance(expect, Refused):
        return f"loaded {result.rows} rows from a file to refuse at line {expect.line}"
    if result.rows != expect.rows:
        return f"loaded {result.rows} rows, not {expect.rows}"
    if expect.column is not None and stored(engine, expect) != expect.value:
        return f"stored {stored(engine, expect)!r} as {expect.column}, not {expect.value!r}"
    return None


def test_every_hostile_variant_is_refused_at_its_line_or_loaded_as_written(clean_db, sample_path, variants,
                                                                          tmp_path):
    load_customers_file(clean_db, sample_path)
    problems = []
    for number, variant in enumerate(variants):
        path = tmp_path / f"variant-{number}.csv"
        path.write_bytes(variant.data)
        before = state(clean_db)
        problem = problem_with(variant, path, clean_db, before)
        if problem:
            problems.append(f"{variant.category} / {variant.name}: {problem}")
    refused = sum(isinstance(variant.expect, Refused) for variant in variants)
    print(f"\n{len(variants)} hostile variants: {refused} to refuse, {len(variants) - refused} valid; "  # noqa: T201
          f"{len(problems)} taken otherwise")
    assert len(variants) >= 300
    assert not problems, "\n".join(problems)


def test_a_bad_date_deep_in_the_sample_is_named_at_its_line(clean_db, sample_path, tmp_path):
    lines = sample_path.read_bytes().split(b"\r\n")
    fields = lines[1121].split(b",")  # line 1122
    fields[8] = b"31-02-2013"  # Dt_Customer
    lines[1121] = b",".join(fields)
    path = tmp_path / "customers.csv"
    path.write_bytes(b"\r\n".join(lines))
    with pytest.raises(InputFileError, match=r", line 1122, column 'Dt_Customer': expected a date"):
        load_customers_file(clean_db, path)


def test_arrow_reads_the_checked_records_as_the_csv_module_does(variants, tmp_path, monkeypatch):
    """The loader reads checked records again with Arrow's CSV reader (faster): on every valid variant (quoted
    line breaks, quotes, byte order mark, delimiters, line ends), Arrow reads every chunk, and as csv does."""
    arrow_read = RecordChunk.parsed
    read_by_arrow: list[bool] = []

    def recorded(cls, *arguments):  # noqa: ANN001, ANN202
        chunk = arrow_read(*arguments)
        read_by_arrow.append(chunk is not None)
        return chunk

    for number, variant in enumerate(variant for variant in variants if isinstance(variant.expect, Loads)):
        path = tmp_path / f"variant-{number}.csv"
        path.write_bytes(variant.data)
        file = DelimitedFile(path)
        monkeypatch.setattr(RecordChunk, "parsed", classmethod(recorded))
        chunks = list(file.records(chunk_rows=16))
        monkeypatch.setattr(RecordChunk, "parsed", classmethod(lambda cls, *arguments: None))
        by_csv_module = list(file.records(chunk_rows=16))
        for chunk, reference in zip(chunks, by_csv_module, strict=True):
            for column, expected in zip(chunk.columns, reference.columns, strict=True):
                pd.testing.assert_series_equal(column, expected, check_names=False)
    assert len(read_by_arrow) > 100 and all(read_by_arrow)


def test_segments_load_refuses_hostile_files_each_in_one_line_naming_its_line(engine, variants, tmp_path):
    """The real command, on one file of each kind the issue found: silently converted (an id of 1e308), a raw
    traceback (bytes that are not UTF-8), a lost connection (a 60-digit number)."""
    names = ["ID='1e308'@2", "Latin-1 byte in a label@19", "MntFruits=99999999999999999999@19"]
    chosen = [next(variant for variant in variants if variant.name == name) for name in names]
    commands = []
    for number, variant in enumerate(chosen):
        path = tmp_path / f"customers-{number}.csv"
        path.write_bytes(variant.data)
        commands.append(subprocess.Popen([SEGMENTS, "load", str(path)], stdout=subprocess.PIPE,  # side by side
                                         stderr=subprocess.PIPE, text=True, env={**os.environ, "COLUMNS": "80"}))
    for variant, command in zip(chosen, commands):
        _, stderr = command.communicate(timeout=300)
        assert isinstance(variant.expect, Refused)
        errors = [line for line in stderr.splitlines() if line.startswith("error:")]
        assert command.returncode == 1 and "Traceback" not in stderr, stderr
        assert len(errors) == 1 and f", line {variant.expect.line}, column {variant.expect.column!r}" in errors[0]
        assert len(errors[0]) < 600


def test_segments_load_stores_formula_and_sql_text_as_written(clean_db, variants, tmp_path):
    variant = next(variant for variant in variants if variant.name.startswith("Education='=HYPERLINK"))
    path = tmp_path / "customers.csv"
    path.write_bytes(variant.data)
    result = segments("load", str(path))
    assert result.returncode == 0, result.stderr
    assert isinstance(variant.expect, Loads) and stored(clean_db, variant.expect) == variant.expect.value
