"""Reading the SQL files in sql/, quoting configured identifiers, and bulk I/O with COPY."""

from __future__ import annotations

import io
import re
from functools import cache

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


def copy_in_frame(connection: sa.Connection, table: str, frame: pd.DataFrame, chunk_rows: int = 200_000) -> int:
    """Append `frame` to `table` (schema-qualified, trusted name) with COPY, its columns by name."""
    columns = ", ".join(quote_identifier(str(column), "column") for column in frame.columns)
    with driver_connection(connection).cursor() as cursor:
        with cursor.copy(f"COPY {table} ({columns}) FROM STDIN WITH (FORMAT csv)") as copy:
            for start in range(0, len(frame), chunk_rows):
                copy.write(frame.iloc[start:start + chunk_rows].to_csv(header=False, index=False))
    return len(frame)
