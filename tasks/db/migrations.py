"""Schema as code: Alembic applies the ordered SQL migrations in sql/migrations/versions/.

Each migration is a plain .sql file with a two-line Alembic revision beside it. Each one runs in its
own transaction, so a failing migration rolls back whole and the error names it. A PostgreSQL
advisory lock serialises concurrent upgrades (two runs starting at once).
"""

from __future__ import annotations

from pathlib import Path

import psycopg
import sqlalchemy as sa
from alembic import command, op
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

from tasks.errors import MigrationError
from tasks.settings import PROJECT_ROOT
from tasks.db.sql import driver_connection

MIGRATIONS_DIR = PROJECT_ROOT / "sql" / "migrations"
MIGRATION_LOCK_KEY = 7_204_117_001  # advisory-lock key shared by every process of this project


def run_sql_beside(revision_file: str) -> None:
    """Execute the .sql file named like the revision script that calls this."""
    _execute_script(Path(revision_file).with_suffix(".sql").read_text())


def run_sql_files(relative_paths: list[str]) -> None:
    """Execute sql/<path> files (views, functions: CREATE OR REPLACE) inside the running migration."""
    for relative_path in relative_paths:
        _execute_script((PROJECT_ROOT / "sql" / relative_path).read_text())


def _execute_script(script: str) -> None:
    # Straight to the driver, without parameters, in the migration's transaction: the files hold several
    # statements, literal colons and literal % (format('%I'), RAISE ... '%'), exactly as psql would run them.
    driver_connection(op.get_bind()).execute(script)


def _alembic_config(migrations_dir: Path, connection: sa.Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir))
    config.attributes["connection"] = connection
    return config


def head_revision(migrations_dir: Path = MIGRATIONS_DIR) -> str:
    return ScriptDirectory.from_config(_alembic_config(migrations_dir)).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade_schema(engine: Engine, migrations_dir: Path = MIGRATIONS_DIR) -> str:
    """Apply every pending migration; a no-op when the schema is current. Returns the head revision."""
    with engine.connect() as connection:
        connection.execute(sa.text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        connection.commit()
        try:
            before = MigrationContext.configure(connection).get_current_revision()
            try:
                command.upgrade(_alembic_config(migrations_dir, connection), "head")
            except (sa.exc.DBAPIError, psycopg.Error) as error:
                connection.rollback()
                driver_connection(connection).rollback()  # the script ran on the driver connection
                cause = getattr(error, "orig", None) or error
                failed = _first_pending_after(migrations_dir,
                                              MigrationContext.configure(connection).get_current_revision())
                raise MigrationError(
                    f"migration {failed} failed and was rolled back (schema was at {before or 'empty'}): "
                    f"{cause}") from error
            connection.commit()
        finally:
            connection.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY})
            connection.commit()
    return head_revision(migrations_dir)


def _first_pending_after(migrations_dir: Path, revision: str | None) -> str:
    scripts = ScriptDirectory.from_config(_alembic_config(migrations_dir))
    pending = list(reversed(list(scripts.walk_revisions("base", "head"))))  # walk_revisions goes head first
    names = [script.revision for script in pending]
    index = names.index(revision) + 1 if revision in names else 0
    script = pending[index] if index < len(pending) else pending[-1]
    return f"{script.revision} ({Path(script.path).with_suffix('.sql').name})"
