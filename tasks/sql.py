"""Reading the SQL files in sql/, quoting configured identifiers, and bulk I/O with COPY."""

from __future__ import annotations

import io
import re
import time
from collections.abc import Callable
from functools import cache

import numpy as np
import pandas as pd
import sqlalchemy as sa

from tasks.errors import ConfigurationError
from tasks.settings import PROJECT_ROOT

SQL_DIR = PROJECT_ROOT / "sql"
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,62}$")


@cache
def read_sql(relative_path: str) -> str:
    """The text of sql/<relative_path>. Placeholders are psycopg's %(name)s; values are always bound."""
    return (SQL_DIR / relative_path).read_text()


def quote_identifier(name: str, what: str = "identifier") -> str:
    """Quote a configured name after checking it is a plain SQL identifier (no injection through config)."""
    if not _IDENTIFIER.match(name):
        raise ConfigurationError(f"{what} {name!r} is not a valid SQL identifier (letters, digits, _ and $; "
                                 "must not start with a digit; at most 63 characters)")
    return '"' + name + '"'


def quote_table(qualified: str, what: str = "table") -> str:
    parts = qualified.split(".")
    if len(parts) > 2:
        raise ConfigurationError(f"{what} {qualified!r} must be TABLE or SCHEMA.TABLE")
    return ".".join(quote_identifier(part, what) for part in parts)


def driver_connection(connection: sa.Connection):  # -> psycopg.Connection
    return connection.connection.driver_connection


def copy_out_frame(connection: sa.Connection, query: str, params: dict | None = None) -> pd.DataFrame:
    """Run `query` through COPY ... TO STDOUT and read the result into a DataFrame."""
    buffer = io.BytesIO()
    with driver_connection(connection).cursor() as cursor:
        with cursor.copy(f"COPY ({query.strip().rstrip(';')}) TO STDOUT WITH (FORMAT csv, HEADER)",
                         params) as copy:
            for block in copy:
                buffer.write(block)
    buffer.seek(0)
    return pd.read_csv(buffer)


# -- binary COPY straight into / out of numpy arrays (no text parsing, memory bounded by the arrays) --------
_BINARY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
_BINARY_TRAILER = b"\xff\xff"
_BINARY_BLOCK_BYTES = 8 << 20


def _binary_row_dtype(columns: dict[str, str]) -> np.dtype:
    """Wire layout of one fixed-width, NULL-free tuple: field count, then (length, value) per column."""
    fields: list[tuple[str, str]] = [("field_count", ">i2")]
    for name, kind in columns.items():
        fields += [(f"{name}__length", ">i4"), (name, ">" + kind)]
    return np.dtype(fields)


def copy_out_arrays(connection: sa.Connection, query: str, columns: dict[str, str], rows: int,
                    params: dict | None = None,
                    progress: Callable[[int, float], None] | None = None) -> dict[str, np.ndarray]:
    """Run `query` through binary COPY into one preallocated numpy array per column.

    `columns` maps each selected column, in order, to its numpy kind: "f8" (double precision), "i8"
    (bigint), "i4" (integer) or "i2" (smallint). Values must not be NULL (select coalesce(x, 'NaN')
    for floats): every tuple then has the same width and is decoded by numpy, not row by row in Python.
    `rows` is how many rows the query returns (count them first); the arrays are exactly that long.
    """
    dtype = _binary_row_dtype(columns)
    arrays = {name: np.empty(rows, dtype=kind) for name, kind in columns.items()}
    started, filled, pending, pending_bytes = time.perf_counter(), 0, [], 0
    leftover, header_done = b"", False

    def decode(data: bytes, final: bool) -> bytes:
        nonlocal filled
        complete = len(data) // dtype.itemsize
        if final and data[complete * dtype.itemsize:] not in (b"", _BINARY_TRAILER):
            complete = (len(data) - len(_BINARY_TRAILER)) // dtype.itemsize
        if filled + complete > rows:
            raise ValueError(f"COPY returned more than the {rows} rows expected")
        records = np.frombuffer(data, dtype=dtype, count=complete)
        for name in columns:
            arrays[name][filled:filled + complete] = records[name]
        filled += complete
        if progress and complete:
            progress(filled, time.perf_counter() - started)
        return data[complete * dtype.itemsize:]

    with driver_connection(connection).cursor() as cursor:
        with cursor.copy(f"COPY ({query.strip().rstrip(';')}) TO STDOUT WITH (FORMAT binary)", params) as copy:
            for block in copy:
                pending.append(bytes(block))
                pending_bytes += len(block)
                if pending_bytes >= _BINARY_BLOCK_BYTES:
                    data = leftover + b"".join(pending)
                    pending, pending_bytes = [], 0
                    if not header_done:
                        data, header_done = _skip_binary_header(data), True
                    leftover = decode(data, final=False)
    data = leftover + b"".join(pending)
    if not header_done:
        data = _skip_binary_header(data)
    rest = decode(data, final=True)
    if rest not in (b"", _BINARY_TRAILER) or filled != rows:
        raise ValueError(f"COPY returned {filled} rows, expected {rows} (variable-width or NULL values?)")
    return arrays


def _skip_binary_header(data: bytes) -> bytes:
    if not data.startswith(_BINARY_SIGNATURE):
        raise ValueError("not a PostgreSQL binary COPY stream")
    extension = int.from_bytes(data[15:19], "big")
    return data[19 + extension:]


def copy_in_arrays(connection: sa.Connection, table: str, arrays: dict[str, np.ndarray],
                   chunk_rows: int = 500_000) -> int:
    """Append equally long arrays to `table` (trusted name) with binary COPY; no NaN-to-NULL translation."""
    names = list(arrays)
    rows = len(arrays[names[0]]) if names else 0
    kinds = {name: arrays[name].dtype.str[1:] for name in names}  # e.g. "f8", "i8", "i4"
    dtype = _binary_row_dtype(kinds)
    column_list = ", ".join(quote_identifier(name, "column") for name in names)
    with driver_connection(connection).cursor() as cursor:
        with cursor.copy(f"COPY {table} ({column_list}) FROM STDIN WITH (FORMAT binary)") as copy:
            copy.write(_BINARY_SIGNATURE + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00")
            for start in range(0, rows, chunk_rows):
                stop = min(start + chunk_rows, rows)
                records = np.empty(stop - start, dtype=dtype)
                records["field_count"] = len(names)
                for name in names:
                    records[f"{name}__length"] = arrays[name].dtype.itemsize
                    records[name] = arrays[name][start:stop]
                copy.write(records.tobytes())
            copy.write(_BINARY_TRAILER)
    return rows
