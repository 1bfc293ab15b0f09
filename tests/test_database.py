"""The database: URLs, the embedded server, migrations."""

from __future__ import annotations

import shutil

import pytest
import sqlalchemy as sa

from tasks.database import EmbeddedPostgres, mask_url, normalise_url
from tasks.errors import ConfigurationError, MigrationError
from tasks.migrations import MIGRATIONS_DIR, current_revision, head_revision, upgrade_schema


def test_passwords_are_masked_and_the_driver_is_psycopg():
    url = normalise_url("postgresql://analyst:s3cret@db.example:5432/crm")
    assert url.drivername == "postgresql+psycopg"
    assert mask_url(url) == "postgresql+psycopg://analyst:***@db.example:5432/crm"
    assert "s3cret" not in mask_url("postgresql+psycopg://analyst:s3cret@db.example/crm")


def test_non_postgres_urls_are_refused():
    with pytest.raises(ConfigurationError, match="must point at PostgreSQL, got 'mysql'"):
        normalise_url("mysql://root:pw@localhost/db")


def test_migrations_are_idempotent(engine):
    assert current_revision(engine) == head_revision()
    with engine.connect() as connection:
        tables_before = connection.execute(sa.text(
            "SELECT count(*) FROM pg_tables WHERE schemaname IN ('source', 'segmentation')")).scalar()
    assert upgrade_schema(engine) == head_revision()
    with engine.connect() as connection:
        tables_after = connection.execute(sa.text(
            "SELECT count(*) FROM pg_tables WHERE schemaname IN ('source', 'segmentation')")).scalar()
    assert tables_after == tables_before


def test_a_failing_migration_rolls_back_and_is_named(engine, tmp_path):
    migrations = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, migrations, ignore=shutil.ignore_patterns("__pycache__"))
    head = head_revision()
    (migrations / "versions" / "9999_broken.sql").write_text(
        "CREATE TABLE segmentation.half_done (id int);\nSELECT no_such_function();\n")
    (migrations / "versions" / "9999_broken.py").write_text(
        "from tasks.migrations import run_sql_beside\n\nrevision = '9999'\n"
        f"down_revision = {head!r}\n\n\ndef upgrade() -> None:\n    run_sql_beside(__file__)\n")

    with pytest.raises(MigrationError, match=r"migration 9999 \(9999_broken.sql\) failed and was rolled back"):
        upgrade_schema(engine, migrations)

    assert current_revision(engine) == head
    with engine.connect() as connection:
        assert connection.scalar(sa.text("SELECT to_regclass('segmentation.half_done')")) is None


def test_embedded_server_reuses_its_data_directory(tmp_path):
    server = EmbeddedPostgres(tmp_path / "state")
    with server.session() as url:
        engine = sa.create_engine(url)
        with engine.begin() as connection:
            connection.exec_driver_sql("CREATE TABLE kept (x int); INSERT INTO kept VALUES (42)")
        engine.dispose()
    assert not server.is_running()  # the last user stopped it
    with server.session() as url_again:
        assert url_again == url  # same port, same database
        engine = sa.create_engine(url_again)
        with engine.connect() as connection:
            assert connection.scalar(sa.text("SELECT x FROM kept")) == 42
        engine.dispose()
    assert not server.is_running()
