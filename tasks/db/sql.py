"""Reading the SQL files in sql/, quoting configured identifiers, and bulk I/O with COPY."""

from __future__ import annotations

import io
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache, partial
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from psycopg import sql as pgsql
from sqlalchemy.engine import Engine

from tasks.db.parallel import BackgroundJobs, in_parallel
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


def identifier(qualified: str, what: str = "identifier") -> pgsql.Identifier:
    """A validated NAME or SCHEMA.NAME as psycopg's Identifier: the one way a name enters SQL text."""
    parts = qualified.split(".")
    if len(parts) > 2:
        raise ConfigurationError(f"{what} {qualified!r} must be NAME or SCHEMA.NAME")
    for part in parts:
        quote_identifier(part, what)
    return pgsql.Identifier(*parts)


SqlPart = str | pgsql.Composable


def sql_file(relative_path: str, **parts: SqlPart) -> str:
    """The statement in sql/<relative_path> with its {name} placeholders filled.

    The one convention of every SQL file: values are psycopg's %(name)s, bound when the statement runs;
    {name} stands for what cannot be bound. A str given for it is a name (validated, then quoted as an
    identifier); a fragment is a psycopg.sql Composable built the same way (never formatted text)."""
    template = pgsql.SQL(read_sql(relative_path))
    filled = {name: identifier(part) if isinstance(part, str) else part for name, part in parts.items()}
    return template.format(**filled).as_string(None)


def run_sql_file(connection: sa.Connection, relative_path: str, params: dict[str, Any] | None = None,
                 **parts: SqlPart) -> sa.CursorResult:
    """Execute sql/<relative_path> (see sql_file) with `params` bound."""
    return connection.exec_driver_sql(sql_file(relative_path, **parts), params or {})


def driver_connection(connection: sa.Connection):  # -> psycopg.Connection
    return connection.connection.driver_connection


def copy_out_frame(connection: sa.Connection, query: str, params: dict | None = None) -> pd.DataFrame:
    """Run `query` through COPY ... TO STDOUT and read the result into a DataFrame."""
    buffer = io.BytesIO()
    statement = pgsql.SQL("COPY ({}) TO STDOUT WITH (FORMAT csv, HEADER)").format(
        pgsql.SQL(query.strip().rstrip(";")))
    with driver_connection(connection).cursor() as cursor:
        with cursor.copy(statement, params) as copy:
            for block in copy:
                buffer.write(block)
    buffer.seek(0)
    return pd.read_csv(buffer)


# Statistics of the run's own tables, for the planner: a sample of 3,000 rows. (ANALYZE's default, 30,000,
# is slow on millions of staged customers; these plans need row counts, the few values of a segment or a
# run, and that customer ids are unique, which a small sample shows.)
PLANNING_STATISTICS_TARGET = 10


def analyze_for_planning(connection: sa.Connection, *tables: str) -> None:
    """ANALYZE tables a run has just filled, on a small sample, before the statements that read them are
    planned: autovacuum would analyse them later, if at all (the work tables do without it). `tables` are
    NAME or SCHEMA.NAME."""
    connection.exec_driver_sql(pgsql.SQL("SET LOCAL default_statistics_target = {}").format(
        pgsql.Literal(PLANNING_STATISTICS_TARGET)).as_string(None))
    connection.exec_driver_sql(pgsql.SQL("ANALYZE {}").format(
        pgsql.SQL(", ").join(identifier(table, "table") for table in tables)).as_string(None))


def without_parallel_workers(connection: sa.Connection) -> None:
    """For the rest of the transaction, plan each statement as one server process. For statements that run
    beside others, each on its own connection (one per core): parallel workers would only oversubscribe the
    cores, and cost more CPU than they save (a parallel hash join builds a shared table where, alone, the
    planner merges two indexes that are in key order, and parallel index builds merge their workers' sorts)."""
    connection.exec_driver_sql("SET LOCAL max_parallel_workers_per_gather = 0")
    connection.exec_driver_sql("SET LOCAL max_parallel_maintenance_workers = 0")


def table_columns(connection: sa.Connection, table: str) -> list[sa.Row]:
    """A table's columns from the catalog, in order: name, type (with its modifier, as SQL writes it) and
    not_null. `table` is a trusted name."""
    return list(run_sql_file(connection, "db/table_columns.sql", {"table": table}))


def estimated_rows(connection: sa.Connection, table: str) -> int:
    """PostgreSQL's estimate of a table's rows, with those of the tables that inherit it, from its statistics
    (0 before any). `table` is a trusted name."""
    return int(run_sql_file(connection, "db/estimated_rows.sql", {"table": table}).scalar() or 0)


@contextmanager
def indexes_built_afterwards(connection: sa.Connection, table: str) -> Iterator[None]:
    """Drop `table`'s indexes (and the primary key and unique constraints they back) for a bulk insert,
    and build them again afterwards, in the same transaction: one sorted build per index instead of an
    insertion into each index per row. Until the transaction ends, readers of the table wait (the drop
    locks it). `table` is NAME or SCHEMA.NAME; its definitions are read back from the catalog, and are
    executed as the catalog writes them."""
    table_name = identifier(table, "table")
    constraints = run_sql_file(connection, "db/unique_constraints.sql", {"table": table}).all()
    indexes = run_sql_file(connection, "db/plain_indexes.sql", {"table": table}).all()
    for constraint in constraints:
        connection.exec_driver_sql(pgsql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(
            table_name, pgsql.Identifier(constraint.name)).as_string(None))
    for index in indexes:
        connection.exec_driver_sql(pgsql.SQL("DROP INDEX {}").format(
            pgsql.Identifier(index.schema_name, index.name)).as_string(None))
    yield
    for constraint in constraints:
        connection.exec_driver_sql(pgsql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(
            table_name, pgsql.Identifier(constraint.name), pgsql.SQL(constraint.definition)).as_string(None))
    for index in indexes:
        connection.exec_driver_sql(index.definition)


def vacuum_after_load(engine: Engine, table: str) -> None:
    """VACUUM (ANALYZE) a table just bulk-loaded (NAME or SCHEMA.NAME), after its transaction committed: its
    rows' hint bits and visibility are settled once, now, rather than by the first scans of the next runs
    (which would write every page back) or by an autovacuum running beside them."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql(
            pgsql.SQL("VACUUM (ANALYZE) {}").format(identifier(table, "table")).as_string(None))


# -- work tables a run has replaced -----------------------------------------------------------------------
# Replacing a table of millions of rows used to drop the old one in the replacing transaction, whose commit
# then waited for the file system to free its files, cores idle. Instead the transaction renames it to
# <name>_retired (a partition: <table>_retired_p<n>), a moment's catalog change, and RetiredTables drops it
# later on its own connection while the run computes, off the run's path.
# Whatever bears such a name is garbage.
WORK_SCHEMA = "segmentation_work"
RETIRED_SUFFIX = re.compile(r"_retired(_p[0-9]+)?$")


def drop_retired_tables(engine: Engine) -> list[str]:
    """Drop every retired work table (see above), each in its own transaction; returns their names. A table
    retired meanwhile is garbage too, so whatever is found may go (IF EXISTS: a run's own retiring drops a
    leftover of the same name first)."""
    with engine.connect() as connection:
        tables = run_sql_file(connection, "db/schema_tables.sql", {"schema": WORK_SCHEMA}).scalars()
        names = [name for name in tables if RETIRED_SUFFIX.search(name)]  # partitions first
    for name in names:
        with engine.begin() as connection:
            connection.exec_driver_sql(pgsql.SQL("DROP TABLE IF EXISTS {}").format(
                identifier(f"{WORK_SCHEMA}.{name}", "retired table")).as_string(None))
    return names


class RetiredTables(BackgroundJobs):
    """Drops retired work tables in a background thread whenever `drop()` is called (tasks.db.parallel.BackgroundJobs:
    leaving the `with` block waits for the drops)."""

    def __init__(self, engine: Engine) -> None:
        super().__init__("dropping retired tables")
        self._engine = engine

    def drop(self) -> None:
        self.submit(drop_retired_tables, self._engine)


# Block numbers are 32-bit: (LAST_BLOCK, 0) lies above every row of any table.
LAST_BLOCK = 2**32 - 1


def page_ranges(connection: sa.Connection, table: str, parts: int) -> list[dict[str, str]]:
    """Split a table's pages into `parts` contiguous ranges, as the TID bounds first_row (inclusive) and
    end_row (exclusive) of statements that each read one range: `ctid >= %(first_row)s::tid AND ctid <
    %(end_row)s::tid` is a TID range scan, which reads only those pages. `table` is a trusted name."""
    pages = int(run_sql_file(connection, "db/table_pages.sql", {"table": table}).scalar())
    bounds = [pages * part // parts for part in range(parts)] + [LAST_BLOCK]
    return [{"first_row": f"({bounds[part]},0)", "end_row": f"({bounds[part + 1]},0)"}
            for part in range(parts)]


def execute_by_page_ranges(engine: Engine, table: str, statement: str, parameters: dict[str, object],
                           parts: int) -> int:
    """Run `statement` (which reads `table` between its first_row and end_row parameters) once per range of
    page_ranges, each on its own connection and in its own transaction, all at once: one statement keeps one
    core busy. Returns the rows they affected in all."""
    with engine.connect() as connection:
        ranges = page_ranges(connection, table, parts)

    def execute(rows: dict[str, str]) -> int:
        with engine.begin() as connection:
            return connection.exec_driver_sql(statement, {**parameters, **rows}).rowcount

    return sum(in_parallel([partial(execute, rows) for rows in ranges]))


# -- numpy arrays in and out in bulk (binary COPY in, ADBC out: no text parsing, memory bounded by the arrays) -
_BINARY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
_BINARY_TRAILER = b"\xff\xff"


def _binary_row_dtype(columns: dict[str, str]) -> np.dtype:
    """Wire layout of one fixed-width, NULL-free tuple: field count, then (length, value) per column."""
    fields: list[tuple[str, str]] = [("field_count", ">i2")]
    for name, kind in columns.items():
        fields += [(f"{name}__length", ">i4"), (name, ">" + kind)]
    return np.dtype(fields)


def libpq_uri(url: sa.URL) -> str:
    """The libpq connection URI of a SQLAlchemy URL (for clients that speak libpq themselves, e.g. ADBC)."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def read_arrays(engine: Engine, query: str, count_query: str | None, columns: dict[str, str],
                progress: Callable[[int, float], None] | None = None) -> dict[str, np.ndarray]:
    """Run `query` and return one numpy array per selected column, in order.

    ADBC's PostgreSQL driver reads the rows by binary COPY and decodes them into Arrow record batches in
    C++; each batch is copied into arrays preallocated from `count_query`'s count, so memory is the
    arrays plus one batch. (psycopg hands Python one COPY message per row: reading ten million customers
    that way was bound by this process's CPU.) Without `count_query` (a small result that would
    cost a second scan to count) the batches are kept and joined at the end. `columns` maps each selected
    column to its numpy kind ("f8", "i8", "i4", "i2"). Values must not be NULL (select coalesce(x, 'NaN')
    for floats). It opens its own connection: only committed rows are visible.
    """
    started, filled = time.perf_counter(), 0
    with _adbc_cursor(engine) as cursor:
        rows = None
        if count_query is not None:
            cursor.execute(count_query)
            rows = int(cursor.fetchone()[0])
        batches: dict[str, list[np.ndarray]] = {name: [] for name in columns}  # uncounted: joined at the end
        arrays = {name: np.empty(rows, dtype=kind) for name, kind in columns.items()} if rows is not None else {}
        for batch in _array_batches(cursor, query, columns):
            size = len(next(iter(batch.values()), ()))
            if rows is not None and filled + size > rows:
                raise ValueError(f"the query returned more than the {rows} rows counted")
            for name, values in batch.items():
                if rows is None:
                    batches[name].append(values)
                else:
                    arrays[name][filled:filled + size] = values
            filled += size
            if progress and size:
                progress(filled, time.perf_counter() - started)
    if rows is None:
        return {name: np.concatenate([np.empty(0, dtype=columns[name]), *parts]) for name, parts in batches.items()}
    if filled != rows:
        raise ValueError(f"the query returned {filled} rows, {rows} were counted")
    return arrays


def stream_arrays(engine: Engine, query: str, columns: dict[str, str]) -> Iterator[dict[str, np.ndarray]]:
    """Run `query` and yield its rows a batch at a time, one numpy array per selected column (as read_arrays,
    without holding more than one batch)."""
    with _adbc_cursor(engine) as cursor:
        yield from _array_batches(cursor, query, columns)


@contextmanager
def _adbc_cursor(engine: Engine) -> Iterator[Any]:
    import adbc_driver_postgresql.dbapi as adbc  # noqa: PLC0415 (pyarrow is a heavy import)

    with adbc.connect(libpq_uri(engine.url)) as connection, connection.cursor() as cursor:
        yield cursor


def _array_batches(cursor: Any, query: str, columns: dict[str, str]) -> Iterator[dict[str, np.ndarray]]:
    cursor.execute(query)
    for batch in cursor.fetch_record_batch():
        arrays = {}
        for position, (name, kind) in enumerate(columns.items()):
            values = batch.column(position)
            if values.null_count:
                raise ValueError(f"column {name} has NULL values; select coalesce({name}, ...) instead")
            arrays[name] = values.to_numpy(zero_copy_only=False).astype(kind, copy=False)
        yield arrays


def copy_in_arrays(connection: sa.Connection, table: str, arrays: dict[str, np.ndarray],
                   chunk_rows: int = 500_000) -> int:
    """Append equally long arrays to `table` (NAME or SCHEMA.NAME) with binary COPY; no NaN-to-NULL
    translation."""
    names = list(arrays)
    rows = len(arrays[names[0]]) if names else 0
    kinds = {name: arrays[name].dtype.str[1:] for name in names}  # e.g. "f8", "i8", "i4"
    dtype = _binary_row_dtype(kinds)
    statement = pgsql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT binary)").format(
        identifier(table, "table"), pgsql.SQL(", ").join(identifier(name, "column") for name in names))
    with driver_connection(connection).cursor() as cursor:
        with cursor.copy(statement) as copy:
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


# -- values where PostgreSQL takes no parameters ----------------------------------------------------------
def sql_file_with_values(connection: sa.Connection, relative_path: str, params: dict[str, Any],
                         **parts: SqlPart) -> str:
    """sql/<relative_path> (see sql_file) with its %(name)s values bound into the text by psycopg itself
    (client-side binding: each value written as a literal of its type), for a query handed to a client that
    takes no psycopg parameters (ADBC). The file keeps the one convention; `connection` lends psycopg's
    adapters."""
    from psycopg import ClientCursor  # noqa: PLC0415 (psycopg is imported already, as psycopg.sql)

    with ClientCursor(driver_connection(connection)) as cursor:
        return cursor.mogrify(sql_file(relative_path, **parts), params)


def run_sql_file_with_values(connection: sa.Connection, relative_path: str, params: dict[str, Any],
                             **parts: SqlPart) -> None:
    """Execute sql/<relative_path> (see sql_file), a statement PostgreSQL takes no parameters in (DDL: the
    values of a CHECK constraint or a partition bound), with `params` bound into its text by psycopg
    (client-side binding, as sql_file_with_values), in `connection`'s transaction."""
    from psycopg import ClientCursor  # noqa: PLC0415 (see sql_file_with_values)

    with ClientCursor(driver_connection(connection)) as cursor:
        cursor.execute(sql_file(relative_path, **parts), params)
