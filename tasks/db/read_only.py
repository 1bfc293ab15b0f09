"""`segments sql`: one statement, on a connection of its own whose every transaction is read-only.

The session is read-only from its start (default_transaction_read_only, a connection option), and the
statement goes alone through the extended protocol (prepared), which takes one statement only: a text like
"COMMIT; SET default_transaction_read_only = off; CREATE TABLE ..." is refused whole, and whatever the one
statement does to the session ends with the connection, rolled back.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from sqlalchemy.engine import Engine

from tasks.db.sql import libpq_uri
from tasks.errors import QueryError

READ_ONLY_SESSION = "-c default_transaction_read_only=on"


@dataclass(frozen=True)
class QueryResult:
    columns: list[str]
    rows: list[tuple]
    status: str  # the server's command tag (SELECT 3, SHOW, ...)


def run_read_only(engine: Engine, statement: str) -> QueryResult:
    """Run one statement in a read-only session of the engine's database; any failure is a QueryError."""
    if not statement.strip().strip(";").strip():
        raise QueryError('no statement given: segments sql "SELECT ..."')
    try:
        connection = psycopg.connect(libpq_uri(engine.url), options=READ_ONLY_SESSION)
    except psycopg.Error as error:
        raise QueryError(f"cannot connect to the database: {_first_line(error)}") from error
    try:
        with connection.cursor() as cursor:
            cursor.execute(statement, prepare=True)  # type: ignore[arg-type] (the user's text, run as it is)
            columns = [column.name for column in cursor.description or []]
            rows = cursor.fetchall() if cursor.description else []
            return QueryResult(columns, rows, cursor.statusmessage or "")
    except psycopg.Error as error:
        raise QueryError(_explained(error)) from error
    finally:
        connection.close()  # never committed: the server rolls the transaction back


def _explained(error: psycopg.Error) -> str:
    diagnostic = error.diag
    message = diagnostic.message_primary or _first_line(error)
    if diagnostic.sqlstate == "42601" and "multiple commands" in message:
        return "segments sql runs one statement at a time (the text holds several)"
    if diagnostic.sqlstate == "25006":  # read_only_sql_transaction
        return f"{message}: segments sql only reads"
    where = f" (at character {diagnostic.statement_position})" if diagnostic.statement_position else ""
    return f"{message}{where}"


def _first_line(error: BaseException) -> str:
    return next((line.strip() for line in str(error).splitlines() if line.strip()), type(error).__name__)
