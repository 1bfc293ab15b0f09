"""Schema as code: the versioned SQL migrations in sql/migrations/versions/, then the repeatable objects.

Versioned migrations are the files versions/NNNN_name.sql, found there and applied once each in the order
of their number, which is the schema's revision. Each runs in its own transaction with the record of its
revision, so a failing migration rolls back whole and the error names its file and the revision the schema
stays at. A PostgreSQL advisory lock serialises concurrent upgrades (two runs starting at once). Any session
can take an advisory lock, so the wait for it is bounded and names the session holding it, and it is
taken in short attempts, between which Ctrl-C is answered.

Repeatable objects are the views and functions kept one per CREATE OR REPLACE file under sql/
(REPEATABLE_OBJECTS, in the order they are applied). They are applied after the versioned migrations,
each in its own transaction, when the file's SHA-256 differs from the one recorded in
public.repeatable_objects: changing a view is changing its file, with no migration to write. After any
versioned migration ran they are all applied again, since a migration may have dropped a view to change a
table beneath it, or moved the table a view read (0006); so too on a new database. Versioned migrations
never run these files, so their history does not depend on how the files read today. A view its file
re-creates stays readable by segments_reader through the default privileges 0004 sets (for the role that
ran it). A file whose view loses or renames columns, which CREATE OR REPLACE refuses, drops the view first.
The runner's two tables live in public (sql/db/migration_history.sql), outside the pipeline's schemas.

Why not Alembic: its revisions are Python modules (it discovers *.py files only), so driving plain SQL
files would take a stub per migration or its private revision map. The runner keeps Alembic's version
table, public.alembic_version, as Alembic laid it out: a database Alembic migrated carries on from its
revision with nothing applied again.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tasks.db.sql import SQL_DIR, driver_connection, read_sql, run_sql_file
from tasks.errors import MigrationError

log = logging.getLogger(__name__)

MIGRATIONS_DIR = SQL_DIR / "migrations"
MIGRATION_LOCK_KEY = 7_204_117_001  # advisory-lock key shared by every process of this project
# How long an upgrade waits for another session's upgrade, and how long each attempt to take the lock waits.
MIGRATION_LOCK_WAIT_SECONDS = 600.0
LOCK_ATTEMPT_TIMEOUT = "1s"
MIGRATION_FILE_NAME = re.compile(r"^(?P<revision>[0-9]{4})_[a-z0-9_]+\.sql$")

# Relative to sql/, in the order they are applied: a file comes after the objects it reads.
REPEATABLE_OBJECTS = ["model/assign_segment.sql", "views/campaign_audience.sql", "views/tier_movements.sql",
                      "views/latest_profiles.sql"]


@dataclass(frozen=True)
class Migration:
    revision: str
    path: Path


def versioned_migrations(migrations_dir: Path = MIGRATIONS_DIR) -> list[Migration]:
    """The migrations in <migrations_dir>/versions/, in order of revision."""
    versions = migrations_dir / "versions"
    migrations = []
    for path in sorted(versions.glob("*.sql")):
        named = MIGRATION_FILE_NAME.match(path.name)
        if not named:
            raise MigrationError(f"{path}: a migration's file is named NNNN_name.sql (its four-digit revision, "
                                 "then lower-case words joined by _)")
        if migrations and migrations[-1].revision == named["revision"]:
            raise MigrationError(f"{versions}: {migrations[-1].path.name} and {path.name} have the same "
                                 "revision; renumber the later one")
        migrations.append(Migration(named["revision"], path))
    if not migrations:
        raise MigrationError(f"{versions} holds no migration (NNNN_name.sql)")
    return migrations


def head_revision(migrations_dir: Path = MIGRATIONS_DIR) -> str:
    return versioned_migrations(migrations_dir)[-1].revision


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        if not sa.inspect(connection).has_table("alembic_version", schema="public"):
            return None
        return _recorded_revision(connection)


def upgrade_schema(engine: Engine, migrations_dir: Path = MIGRATIONS_DIR, sql_dir: Path = SQL_DIR,
                   lock_wait_seconds: float = MIGRATION_LOCK_WAIT_SECONDS) -> str:
    """Apply every pending versioned migration, then the repeatable objects whose files changed (all of them
    after a migration); a no-op when all is current. Returns the head revision. `sql_dir` holds the
    repeatable objects' files; another session's upgrade is waited for up to `lock_wait_seconds`."""
    migrations = versioned_migrations(migrations_dir)
    with engine.connect() as connection:
        _take_migration_lock(connection, lock_wait_seconds)
        try:
            with connection.begin():
                _execute_script(connection, read_sql("db/migration_history.sql"))
                revision = _recorded_revision(connection)
            applied = _apply_migrations(connection, _pending(migrations, revision), revision)
            _apply_repeatable_objects(connection, sql_dir, migrations[-1].revision, every=applied > 0)
        finally:
            with connection.begin():
                run_sql_file(connection, "db/migration_unlock.sql", {"key": MIGRATION_LOCK_KEY})
    return migrations[-1].revision


def _take_migration_lock(connection: sa.Connection, wait_seconds: float) -> None:
    """Take the migrations' advisory lock for the session, in attempts of LOCK_ATTEMPT_TIMEOUT each (a waiting
    attempt shows in pg_locks; Ctrl-C is answered between them) for up to `wait_seconds`; then raise
    MigrationError naming the session that holds it, which may be any role's (advisory locks take no
    privilege)."""
    deadline = time.monotonic() + wait_seconds
    waiting_logged = False
    while True:
        try:
            with connection.begin():
                run_sql_file(connection, "db/local_lock_timeout.sql", {"timeout": LOCK_ATTEMPT_TIMEOUT})
                run_sql_file(connection, "db/migration_lock.sql", {"key": MIGRATION_LOCK_KEY})
            return
        except sa.exc.OperationalError as error:
            if not isinstance(error.orig, psycopg.errors.LockNotAvailable):
                raise
        with connection.begin():
            holder = run_sql_file(connection, "db/advisory_lock_holder.sql", {"key": MIGRATION_LOCK_KEY}).first()
        if time.monotonic() >= deadline:
            raise MigrationError(
                f"the schema migration lock is held by {describe_lock_holder(holder)}, and was not released within "
                f"{wait_seconds:g}s. If that is another upgrade of this pipeline, let it finish and try again; if "
                "not (any role can take the lock), end that session"
                + (f": SELECT pg_terminate_backend({holder.pid})" if holder is not None else ""))
        if not waiting_logged:
            log.warning("waiting up to %gs for the schema migration lock, held by %s", wait_seconds,
                        describe_lock_holder(holder))
            waiting_logged = True


def describe_lock_holder(holder: sa.Row | None) -> str:
    """The session holding an advisory lock (a row of sql/db/advisory_lock_holder.sql), as a message names it:
    backend pid, role, application and since when (None: it has just released it)."""
    if holder is None:
        return "a session that has just released it"
    application = f", application {holder.application_name!r}" if holder.application_name else ""
    return (f"backend pid {holder.pid} (role {holder.usename}{application}, connected since "
            f"{holder.backend_start:%Y-%m-%d %H:%M:%S})")


def _recorded_revision(connection: sa.Connection) -> str | None:
    return run_sql_file(connection, "db/schema_revision.sql").scalar_one_or_none()


def _pending(migrations: list[Migration], revision: str | None) -> list[Migration]:
    if revision is None:
        return migrations
    revisions = [migration.revision for migration in migrations]
    if revision not in revisions:
        raise MigrationError(f"the database is at revision {revision}, which {migrations[0].path.parent} does "
                             "not hold: a different version of this project migrated it")
    return migrations[revisions.index(revision) + 1:]


def _apply_migrations(connection: sa.Connection, pending: list[Migration], revision: str | None) -> int:
    for migration in pending:
        try:
            with connection.begin():
                _execute_script(connection, migration.path.read_text())
                run_sql_file(connection, "db/set_schema_revision.sql", {"revision": migration.revision})
        except (sa.exc.DBAPIError, psycopg.Error) as error:
            raise MigrationError(
                f"migration {migration.revision} ({migration.path.name}) failed and was rolled back; the schema "
                f"stays at {revision or 'empty'}: {getattr(error, 'orig', None) or error}") from error
        revision = migration.revision
        log.info("applied migration %s", migration.path.name)
    return len(pending)


def _apply_repeatable_objects(connection: sa.Connection, sql_dir: Path, revision: str, every: bool) -> None:
    with connection.begin():
        recorded = dict(run_sql_file(connection, "db/repeatable_checksums.sql").tuples().all())
    for file_name in REPEATABLE_OBJECTS:
        text = (sql_dir / file_name).read_text()
        checksum = hashlib.sha256(text.encode()).hexdigest()
        if not every and recorded.get(file_name) == checksum:
            continue
        try:
            with connection.begin():
                _execute_script(connection, text)
                run_sql_file(connection, "db/record_repeatable.sql",
                             {"file_name": file_name, "checksum": checksum})
        except (sa.exc.DBAPIError, psycopg.Error) as error:
            raise MigrationError(
                f"repeatable object {file_name} failed and was rolled back (the schema is at {revision}): "
                f"{getattr(error, 'orig', None) or error}") from error
        log.info("applied %s", file_name)


def _execute_script(connection: sa.Connection, script: str) -> None:
    # Straight to the driver, without parameters, in the connection's transaction: the files hold several
    # statements, literal colons and literal % (format('%I'), RAISE ... '%'), exactly as psql would run them.
    driver_connection(connection).execute(script)
