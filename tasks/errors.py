"""Errors a user can cause, each with a message that says what was wrong, where, and what to do."""

from __future__ import annotations


class SegmentsError(Exception):
    """Base class of every error this project raises on purpose."""


class ConfigurationError(SegmentsError):
    """A setting, mapping file, recipe or parameter is invalid."""


class DatabaseUnavailableError(SegmentsError):
    """The database could not be reached or started."""


class MigrationError(SegmentsError):
    """A schema migration failed; it was rolled back."""


class InputFileError(SegmentsError):
    """A data file cannot be loaded; nothing from it was written. The message names the file, the line (the
    header is line 1), the column and the value, shortened: a 1 MB value still makes a one-line message."""

    SHOWN_CHARS = 40

    def __init__(self, path: str, message: str, *, line: int | None = None,
                 column: str | None = None, value: object = None) -> None:
        where = path if line is None else f"{path}, line {line}"
        if column is not None:
            where += f", column {self._shown(column)}"
        detail = f" (value {self._shown(value)})" if value is not None else ""
        super().__init__(f"{where}: {message}{detail}")
        self.path, self.line, self.column, self.value = path, line, column, value

    @classmethod
    def _shown(cls, value: object) -> str:
        if not isinstance(value, str) or len(value) <= cls.SHOWN_CHARS:
            return repr(value)
        return f"{value[:cls.SHOWN_CHARS]!r}… ({len(value):,} characters)"


class NoSourceDataError(SegmentsError):
    """The source table is empty or missing."""


class ValidationFailedError(SegmentsError):
    """The input breaks the data contract; the run stopped before writing anything."""


class AuditFailedError(SegmentsError):
    """Staged results failed the audit before publish; nothing was published."""


class RunInProgressError(SegmentsError):
    """Another run holds the database's pipeline lock."""


class OrchestrationError(SegmentsError):
    """The local Prefect server, a deployment or the worker could not be set up."""


class LockLostError(SegmentsError):
    """The run lost the database's pipeline lock (its session ended); it stopped before publishing."""


class PublishBlockedError(SegmentsError):
    """Other sessions held segmentation.customer_segments for longer than the publish waits; the segments
    published before are kept."""


class ExpectationsNotEvaluatedError(SegmentsError):
    """Great Expectations could not evaluate some expectations (their queries failed): neither held nor
    failed. `transient` when the cause was the connection (a retry may succeed)."""

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


class QueryError(SegmentsError):
    """A `segments sql` statement was refused or failed; nothing was written."""
