"""Which errors a retry can fix: a dropped, refused or ended database connection, whichever library raised
it (psycopg, SQLAlchemy, the ADBC driver, Great Expectations); never bad data or configuration.

The libraries wrap one another's errors, and ADBC and GX pass on only libpq's message: an error counts as
transient when anything in its chain of causes is a connection error by type, by SQLSTATE (class 08, or
the server ending sessions: 57P01-57P03) or by libpq's words for a lost or refused connection.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import psycopg
import sqlalchemy as sa

from tasks.errors import (
    AuditFailedError,
    ConfigurationError,
    DatabaseUnavailableError,
    ExpectationsNotEvaluatedError,
    LockLostError,
    PublishBlockedError,
    RunInProgressError,
    ValidationFailedError,
)

# libpq's and the server's words for a connection that was lost, refused or ended.
TRANSIENT_MESSAGE = re.compile(
    r"terminating connection|server closed the connection|connection refused|could not connect|"
    r"not accepting connections|the database system is (starting up|shutting down|in recovery mode)|"
    r"connection to server .* failed|SSL connection has been closed|connection reset by peer|broken pipe|"
    r"no connection to the server|the connection is (lost|closed)|connection timed out|"
    r"terminating connection due to (administrator command|idle-session timeout)",
    re.IGNORECASE)
TRANSIENT_SQLSTATES = frozenset({"57P01", "57P02", "57P03"})  # admin/crash shutdown, cannot connect now
# What a retry cannot fix, wherever it sits in the chain: bad data, bad configuration, and what the run's
# lock and publish already waited for.
NOT_TRANSIENT = (ValidationFailedError, AuditFailedError, ConfigurationError, LockLostError, PublishBlockedError,
                 RunInProgressError, sa.exc.IntegrityError, sa.exc.DataError, psycopg.IntegrityError,
                 psycopg.DataError)


def is_transient_database_error(error: BaseException) -> bool:
    """Whether `error` (or an error behind it) is a lost or refused database connection."""
    causes = list(_causes(error))
    if any(isinstance(cause, NOT_TRANSIENT) for cause in causes):
        return False
    for cause in causes:
        if isinstance(cause, ExpectationsNotEvaluatedError):
            return cause.transient
        if isinstance(cause, (DatabaseUnavailableError, sa.exc.OperationalError, sa.exc.InterfaceError,
                              psycopg.OperationalError, psycopg.InterfaceError)):
            return True
        sqlstate = _sqlstate(cause)
        if sqlstate and (sqlstate.startswith("08") or sqlstate in TRANSIENT_SQLSTATES):
            return True
        if TRANSIENT_MESSAGE.search(str(cause)):
            return True
    return False


def _causes(error: BaseException) -> Iterator[BaseException]:
    """`error`, then what it wraps: SQLAlchemy's original DBAPI error, explicit causes and implicit contexts."""
    seen: set[int] = set()
    pending = [error]
    while pending:
        current = pending.pop(0)
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        pending += [getattr(current, "orig", None), current.__cause__, current.__context__]


def _sqlstate(error: BaseException) -> str | None:
    """The SQLSTATE an error carries: psycopg's (`sqlstate`) or ADBC's (`sqlstate`), if any."""
    sqlstate = getattr(error, "sqlstate", None)
    return sqlstate if isinstance(sqlstate, str) else None
