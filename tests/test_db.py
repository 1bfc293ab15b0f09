"""The database: URLs, the embedded server, migrations."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import reset_schemas

from tasks.db.server import EmbeddedPostgres, mask_url, normalise_url
from tasks.errors import ConfigurationError, MigrationError
from tasks.load.customers_file import load_customers_file
from tasks.db.migrations import MIGRATIONS_DIR, current_revision, head_revision, upgrade_schema


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
        "from tasks.db.migrations import run_sql_beside\n\nrevision = '9999'\n"
        f"down_revision = {head!r}\n\n\ndef upgrade() -> None:\n    run_sql_beside(__file__)\n")

    with pytest.raises(MigrationError, match=r"migration 9999 \(9999_broken.sql\) failed and was rolled back"):
        upgrade_schema(engine, migrations)

    assert current_revision(engine) == head
    with engine.connect() as connection:
        assert connection.scalar(sa.text("SELECT to_regclass('segmentation.half_done')")) is None


def test_the_stored_column_migrations_keep_the_customers_and_compute_the_columns(engine, sample_path, tmp_path):
    """A database whose source.customers holds rows before migrations 0011 and 0012 gets the table rebuilt with
    the record hash second and the spend total added last: the same rows, comments and index, each row's two
    columns as PostgreSQL computes them for a new row; the extract's rows are kept and given both too. The
    schema ends at head, as the other tests expect it."""
    before_0011 = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, before_0011, ignore=shutil.ignore_patterns("__pycache__", "0011_*", "0012_*"))
    reset_schemas(engine)
    upgrade_schema(engine, before_0011)
    try:
        _check_the_stored_column_migrations(engine, sample_path)
    finally:
        reset_schemas(engine)
        upgrade_schema(engine)


def _check_the_stored_column_migrations(engine: sa.Engine, sample_path: Path) -> None:
    load_customers_file(engine, sample_path)
    described = ("SELECT attname, col_description(attrelid, attnum) FROM pg_attribute "
                 "WHERE attrelid = CAST('source.customers' AS regclass) AND attnum > 0 AND NOT attisdropped")
    with engine.begin() as connection:
        connection.exec_driver_sql("INSERT INTO segmentation_work.customers_extract "
                                   "SELECT customer_id, birth_year, education, education_raw, marital_status, "
                                   "marital_status_raw, income, kids_home, teens_home, enrolled_on, recency_days, "
                                   "spend_wines, spend_fruits, spend_meat, spend_fish, spend_sweets, spend_gold, "
                                   "purchases_deals, purchases_web, purchases_catalog, purchases_store, "
                                   "web_visits_month, accepted_cmp1, accepted_cmp2, accepted_cmp3, accepted_cmp4, "
                                   "accepted_cmp5, response, complain FROM source.customers")
        customers = connection.execute(sa.text("SELECT * FROM source.customers ORDER BY customer_id")).all()
        comments = dict(connection.execute(sa.text(described)).all())

    assert upgrade_schema(engine) == head_revision()

    stored = ("record_hash", "spend_total")
    with engine.connect() as connection:
        result = connection.execute(sa.text("SELECT * FROM source.customers ORDER BY customer_id"))
        columns = list(result.keys())
        assert columns[:2] == ["customer_id", "record_hash"] and columns[-1] == "spend_total"
        assert [tuple(value for column, value in row.items() if column not in stored)
                for row in result.mappings()] == [tuple(row) for row in customers]
        after = dict(connection.execute(sa.text(described)).all())
        assert after == comments | {column: after[column] for column in stored} and all(after[c] for c in stored)
        assert connection.scalar(sa.text("SELECT to_regclass('source.customers_customer_id_idx')")) is not None
        hashed = ("source.customer_record_hash(income, birth_year, enrolled_on, recency_days, spend_wines, "
                  "purchases_store)")
        summed = ("CAST(spend_wines + spend_fruits + spend_meat + spend_fish + spend_sweets + spend_gold "
                  "AS double precision)")
        computed = {table: connection.execute(sa.text(
            f"SELECT count(*), count(*) FILTER (WHERE record_hash = {hashed}), "  # noqa: S608
            f"count(DISTINCT record_hash), count(*) FILTER (WHERE spend_total IS NOT DISTINCT FROM {summed}), "
            f"count(spend_total) FROM {table}")).one()
            for table in ("source.customers", "segmentation_work.customers_extract")}
    assert computed["source.customers"] == computed["segmentation_work.customers_extract"]
    assert computed["source.customers"][:2] == (2240, 2240) and computed["source.customers"][2] < 2240  # repeats
    assert computed["source.customers"][3:] == (2240, 2240)


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
