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
    """A customers file cannot be loaded; nothing from it was written."""

    def __init__(self, path: str, message: str, *, line: int | None = None,
                 column: str | None = None, value: object = None) -> None:
        where = path if line is None else f"{path}, line {line}"
        if column is not None:
            where += f", column {column!r}"
        detail = f" (value {value!r})" if value is not None else ""
        super().__init__(f"{where}: {message}{detail}")
        self.path, self.line, self.column, self.value = path, line, column, value


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
