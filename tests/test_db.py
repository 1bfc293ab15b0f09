"""The database: URLs, the embedded server, migrations."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import reset_schemas

from tasks.db.server import EmbeddedPostgres, mask_url, normalise_url
from tasks.db.sql import SQL_DIR, driver_connection
from tasks.errors import ConfigurationError, MigrationError
from tasks.load.customers_file import load_customers_file
from tasks.db.migrations import (MIGRATION_LOCK_KEY, MIGRATIONS_DIR, REPEATABLE_OBJECTS, current_revision,
                                 head_revision, upgrade_schema)


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
    shutil.copytree(MIGRATIONS_DIR, migrations)
    head = head_revision()
    (migrations / "versions" / "9999_broken.sql").write_text(
        "CREATE TABLE segmentation.half_done (id int);\nSELECT no_such_function();\n")

    with pytest.raises(MigrationError, match=rf"migration 9999 \(9999_broken.sql\) failed and was rolled back; "
                                             rf"the schema stays at {head}: .*no_such_function"):
        upgrade_schema(engine, migrations)

    assert current_revision(engine) == head
    with engine.connect() as connection:
        assert connection.scalar(sa.text("SELECT to_regclass('segmentation.half_done')")) is None


def test_migration_files_are_named_by_a_unique_four_digit_revision(tmp_path):
    versions = tmp_path / "migrations" / "versions"
    versions.mkdir(parents=True)
    (versions / "0001_first.sql").write_text("SELECT 1;\n")
    (versions / "0002_second.sql").write_text("SELECT 1;\n")
    (versions / "README.txt").write_text("not a migration")
    assert head_revision(tmp_path / "migrations") == "0002"
    (versions / "0002_same_number.sql").write_text("SELECT 1;\n")
    with pytest.raises(MigrationError, match="0002_same_number.sql and 0002_second.sql have the same revision"):
        head_revision(tmp_path / "migrations")
    (versions / "0002_same_number.sql").unlink()
    (versions / "3_short.sql").write_text("SELECT 1;\n")
    with pytest.raises(MigrationError, match="3_short.sql: a migration's file is named NNNN_name.sql"):
        head_revision(tmp_path / "migrations")


def test_a_database_at_a_revision_the_files_lack_is_refused(engine, tmp_path):
    before_head = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, before_head, ignore=shutil.ignore_patterns(f"{head_revision()}_*"))
    with pytest.raises(MigrationError, match=f"the database is at revision {head_revision()}, which .* does not hold"):
        upgrade_schema(engine, before_head)
    assert current_revision(engine) == head_revision()


def test_concurrent_upgrades_run_one_after_the_other(engine):
    """An upgrade waits for the migrations' advisory lock while another holds it, then finds nothing to do."""
    upgraded: list[str] = []
    with engine.connect() as holder:
        holder.execute(sa.text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        holder.commit()
        waiting = threading.Thread(target=lambda: upgraded.append(upgrade_schema(engine)))
        waiting.start()
        try:
            assert _waits_for_the_migration_lock(holder), "the second upgrade did not wait for the lock"
            assert waiting.is_alive() and not upgraded
        finally:
            holder.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY})
            holder.commit()
            waiting.join(timeout=60)
    assert upgraded == [head_revision()]


def _waits_for_the_migration_lock(connection: sa.Connection) -> bool:
    # A bigint advisory key shows in pg_locks as its high and low 32 bits.
    high, low = MIGRATION_LOCK_KEY >> 32, MIGRATION_LOCK_KEY & 0xFFFFFFFF
    for _ in range(200):
        if connection.scalar(sa.text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
                "AND classid = CAST(:high AS bigint)::oid AND objid = CAST(:low AS bigint)::oid"),
                {"high": high, "low": low}):
            connection.commit()
            return True
        connection.commit()
        time.sleep(0.05)
    return False


# The view and function files the Alembic runner of revision 0012 ran after three migrations, as its Python
# stubs named them.
FILES_THE_STUBS_RAN = {"0004": ["model/assign_segment.sql", "views/campaign_audience.sql", "views/tier_movements.sql",
                                "views/latest_profiles.sql"],
                       "0006": ["views/campaign_audience.sql"],
                       "0009": ["model/assign_segment.sql"]}
ALEMBIC_HEAD = "0012"


# The view and function files as the Alembic runner applied them (today's may read later migrations' columns).
REPEATABLES_AT_0012 = Path(__file__).parent / "data" / "repeatables_at_0012"


def sql_dir_of_0012(tmp_path: Path) -> Path:
    """sql/ with the repeatable objects of revision 0012: for a database built up to an earlier revision."""
    sql_dir = tmp_path / "sql"
    shutil.copytree(SQL_DIR, sql_dir)
    for path in REPEATABLES_AT_0012.rglob("*.sql"):
        shutil.copyfile(path, sql_dir / path.relative_to(REPEATABLES_AT_0012))
    return sql_dir


def _migrate_as_the_alembic_runner_left_it(engine: sa.Engine) -> None:
    """A database at revision 0012 as the Alembic runner left it: the versioned files up to 0012, the view and
    function files its stubs ran, Alembic's version table at 0012 and no checksums of repeatable objects."""
    reset_schemas(engine)
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE IF EXISTS public.repeatable_objects")
        for path in sorted((MIGRATIONS_DIR / "versions").glob("*.sql")):
            revision = path.name[:4]
            if revision > ALEMBIC_HEAD:
                break
            driver_connection(connection).execute(path.read_text())
            for name in FILES_THE_STUBS_RAN.get(revision, []):
                driver_connection(connection).execute((REPEATABLES_AT_0012 / name).read_text())
        connection.exec_driver_sql("CREATE TABLE public.alembic_version (version_num varchar(32) NOT NULL, "
                                   "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))")
        connection.exec_driver_sql(f"INSERT INTO public.alembic_version VALUES ('{ALEMBIC_HEAD}')")


# Every object of the pipeline's schemas (and the runner's own tables) as text to compare: relations with
# their kind, options, privileges, comment, view definition and partition bound; columns; constraints;
# indexes; functions with their definition, privileges and comment.
SCHEMA_OBJECTS = """
WITH relations AS (
    SELECT c.oid, format('%I.%I', n.nspname, c.relname) AS name, c.relkind, c.relpersistence, c.reloptions,
           c.relacl, c.relpartbound
    FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
    WHERE n.nspname IN ('source', 'segmentation', 'segmentation_work')
       OR (n.nspname = 'public' AND c.relname IN ('alembic_version', 'repeatable_objects'))
)
SELECT 'relation', name, concat_ws(' | ', relkind, relpersistence, reloptions::text, relacl::text,
                                   obj_description(oid, 'pg_class'),
                                   CASE WHEN relkind = 'v' THEN pg_get_viewdef(oid) END,
                                   pg_get_expr(relpartbound, oid),
                                   CASE WHEN relkind = 'i' THEN pg_get_indexdef(oid) END)
FROM relations
UNION ALL
SELECT 'columns', r.name, string_agg(concat_ws(' ', a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
                                               a.attgenerated, pg_get_expr(d.adbin, d.adrelid),
                                               col_description(a.attrelid, a.attnum)), ', ' ORDER BY a.attnum)
FROM relations AS r JOIN pg_attribute AS a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_attrdef AS d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
GROUP BY r.name
UNION ALL
SELECT 'constraint', r.name || '.' || o.conname, pg_get_constraintdef(o.oid)
FROM relations AS r JOIN pg_constraint AS o ON o.conrelid = r.oid
UNION ALL
SELECT 'function', p.oid::regprocedure::text, concat_ws(' | ', pg_get_functiondef(p.oid), p.proacl::text,
                                                        obj_description(p.oid, 'pg_proc'))
FROM pg_proc AS p JOIN pg_namespace AS n ON n.oid = p.pronamespace
WHERE n.nspname IN ('source', 'segmentation', 'segmentation_work')
ORDER BY 1, 2
"""


def _schema_objects(engine: sa.Engine) -> list[tuple[str, str, str]]:
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(sa.text(SCHEMA_OBJECTS))]


def test_a_database_the_alembic_runner_left_at_0012_upgrades_to_the_objects_of_a_new_one(engine, tmp_path):
    """Nothing of revisions up to 0012 is applied again (each file is replaced by one that would fail), the
    repeatable objects are applied and recorded, and the schema ends as a new database's does."""
    failing = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, failing)
    for path in (failing / "versions").glob("*.sql"):
        if path.name[:4] <= ALEMBIC_HEAD:
            path.write_text("SELECT 1 / 0;  -- applied again\n")
    try:
        _migrate_as_the_alembic_runner_left_it(engine)
        assert current_revision(engine) == ALEMBIC_HEAD
        assert upgrade_schema(engine, failing) == head_revision()
        with engine.connect() as connection:
            assert sorted(connection.scalars(sa.text("SELECT file_name FROM public.repeatable_objects"))) \
                == sorted(REPEATABLE_OBJECTS)
        upgraded = _schema_objects(engine)
    finally:
        reset_schemas(engine)
        upgrade_schema(engine)
    assert current_revision(engine) == head_revision()
    assert upgraded == _schema_objects(engine)


def _repeatable_objects(engine: sa.Engine) -> dict[str, tuple[str, object]]:
    with engine.connect() as connection:
        return {row.file_name: (row.checksum, row.applied_at) for row in connection.execute(sa.text(
            "SELECT file_name, checksum, applied_at FROM public.repeatable_objects"))}


def _view_comment(engine: sa.Engine, view: str) -> str:
    with engine.connect() as connection:
        return connection.scalar(sa.text("SELECT obj_description(CAST(:view AS regclass), 'pg_class')"),
                                 {"view": view})


def test_a_changed_repeatable_file_is_applied_again_and_the_others_are_not(engine, tmp_path):
    """Only the changed file is applied, with no migration written; a view its file drops and creates again
    stays readable by the reader role. Applying the project's files again restores the view."""
    sql_dir = tmp_path / "sql"
    shutil.copytree(SQL_DIR, sql_dir)
    changed = sql_dir / "views" / "tier_movements.sql"
    text = changed.read_text()
    comment = "IS 'Customers whose tier changed"
    assert comment in text
    changed.write_text("DROP VIEW segmentation.tier_movements;\n"
                       + text.replace(comment, "IS 'Changed: customers whose tier changed"))
    upgrade_schema(engine)
    before = _repeatable_objects(engine)
    original_comment = _view_comment(engine, "segmentation.tier_movements")

    try:
        assert upgrade_schema(engine, sql_dir=sql_dir) == head_revision()
        after = _repeatable_objects(engine)
        assert _view_comment(engine, "segmentation.tier_movements").startswith("Changed: ")
        assert after["views/tier_movements.sql"][0] != before["views/tier_movements.sql"][0]
        assert after["views/tier_movements.sql"][1] > before["views/tier_movements.sql"][1]
        assert {name: row for name, row in after.items() if name != "views/tier_movements.sql"} \
            == {name: row for name, row in before.items() if name != "views/tier_movements.sql"}
        with engine.connect() as connection:
            assert connection.scalar(sa.text(
                "SELECT has_table_privilege('segments_reader', 'segmentation.tier_movements', 'SELECT')")) is True
        upgrade_schema(engine, sql_dir=sql_dir)
        assert _repeatable_objects(engine) == after  # unchanged files: nothing applied
    finally:
        upgrade_schema(engine)
    assert _view_comment(engine, "segmentation.tier_movements") == original_comment
    assert _repeatable_objects(engine)["views/tier_movements.sql"][0] == before["views/tier_movements.sql"][0]


def test_every_repeatable_object_is_applied_again_after_a_migration(engine, tmp_path):
    """A migration may drop a view to change the table beneath it: the view's unchanged file creates it again."""
    migrations = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, migrations)
    (migrations / "versions" / "9999_drop_a_view.sql").write_text(
        "-- Drops a view, as a migration changing a table it reads would.\nDROP VIEW segmentation.tier_movements;\n")
    upgrade_schema(engine)
    before = _repeatable_objects(engine)
    try:
        assert upgrade_schema(engine, migrations) == "9999"
        after = _repeatable_objects(engine)
        assert _view_comment(engine, "segmentation.tier_movements")
        assert {name: checksum for name, (checksum, _) in after.items()} \
            == {name: checksum for name, (checksum, _) in before.items()}
        assert all(after[name][1] > before[name][1] for name in REPEATABLE_OBJECTS)
    finally:
        reset_schemas(engine)
        upgrade_schema(engine)


def test_a_failing_repeatable_file_rolls_back_and_is_named(engine, tmp_path):
    sql_dir = tmp_path / "sql"
    shutil.copytree(SQL_DIR, sql_dir)
    broken = sql_dir / "views" / "latest_profiles.sql"
    broken.write_text("DROP VIEW segmentation.latest_profiles;\nSELECT no_such_function();\n")
    upgrade_schema(engine)
    before = _repeatable_objects(engine)

    with pytest.raises(MigrationError, match=rf"repeatable object views/latest_profiles.sql failed and was rolled "
                                             rf"back \(the schema is at {head_revision()}\): .*no_such_function"):
        upgrade_schema(engine, sql_dir=sql_dir)

    assert _repeatable_objects(engine) == before
    assert _view_comment(engine, "segmentation.latest_profiles")  # still there


def test_the_runner_tables_are_commented(engine):
    with engine.connect() as connection:
        undocumented = connection.scalars(sa.text(
            "SELECT c.relname || coalesce('.' || a.attname, '') FROM pg_class AS c "
            "LEFT JOIN pg_attribute AS a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped "
            "WHERE c.oid IN (CAST('public.alembic_version' AS regclass), "
            "                CAST('public.repeatable_objects' AS regclass)) "
            "AND (obj_description(c.oid, 'pg_class') IS NULL OR col_description(c.oid, a.attnum) IS NULL)")).all()
    assert undocumented == []


def test_the_stored_column_migrations_keep_the_customers_and_compute_the_columns(engine, sample_path, tmp_path):
    """A database whose source.customers holds rows before migrations 0011 and 0012 gets the table rebuilt with
    the record hash second and the spend total added last: the same rows, comments and index, each row's two
    columns as PostgreSQL computes them for a new row; the extract's rows are kept and given both too. The
    schema ends at head, as the other tests expect it."""
    before_0011 = tmp_path / "migrations"
    # Without 0011 and every later migration: the database stays at 0010 until the upgrade below.
    shutil.copytree(MIGRATIONS_DIR, before_0011,
                    ignore=lambda _directory, names: [name for name in names if name[:4].isdigit() and name >= "0011"])
    reset_schemas(engine)
    upgrade_schema(engine, before_0011, sql_dir_of_0012(tmp_path))
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
