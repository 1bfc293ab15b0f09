"""Test fixtures: a real PostgreSQL for the whole session.

Without DATABASE_URL the session starts an embedded server in a temporary state directory; with it
(e.g. the machine's server at 127.0.0.1:5432, database `test`) the tests use that server and reset the
pipeline's schemas first.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

_STATE = Path(os.environ.get("SEGMENTS_TEST_STATE_DIR", "/tmp")) / f"segments-tests-{os.getpid()}"
os.environ["SEGMENTS_STATE_DIR"] = str(_STATE)
# Prefect reads its settings when imported: set them before anything imports Prefect.
from flows.orchestration import use_prefect_base_environment  # noqa: E402

use_prefect_base_environment(_STATE / "prefect")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

import sqlalchemy as sa  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402

from tasks.db.server import database  # noqa: E402
from tasks.db.migrations import upgrade_schema  # noqa: E402
from tasks.settings import get_settings  # noqa: E402

PIPELINE_SCHEMAS = ("segmentation", "segmentation_restricted", "segmentation_work", "source")


def reset_schemas(engine: Engine) -> None:
    with engine.begin() as connection:
        for schema in PIPELINE_SCHEMAS:
            connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        connection.exec_driver_sql("DROP TABLE IF EXISTS public.alembic_version, public.repeatable_objects")


@pytest.fixture(scope="session")
def engine() -> Iterator[Engine]:
    _STATE.mkdir(parents=True, exist_ok=True)
    with database(get_settings()) as session_engine:
        reset_schemas(session_engine)
        upgrade_schema(session_engine)
        yield session_engine
    shutil.rmtree(_STATE, ignore_errors=True)


@pytest.fixture
def clean_db(engine: Engine) -> Engine:
    """The migrated schema with no data in it."""
    with engine.begin() as connection:
        tables = connection.execute(sa.text(
            "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables "
            "WHERE schemaname = ANY(:schemas) AND tablename <> 'label_vocabulary'"),
            {"schemas": list(PIPELINE_SCHEMAS)}).scalars().all()
        connection.exec_driver_sql(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
    return engine


@pytest.fixture(scope="session")
def sample_path() -> Path:
    from tasks.settings import SAMPLE_DATA

    return SAMPLE_DATA


CDNOW_ORDERS = Path(__file__).resolve().parent.parent / "data" / "cdnow_orders.csv"


@pytest.fixture
def cdnow_orders(clean_db: Engine) -> Engine:
    """The CDNOW sample's orders (Fader & Hardie; 6,919 orders of 2,357 customers) in source.orders, as a
    shop's own job would have written them a day ago."""
    import csv
    from datetime import datetime, timedelta, timezone

    from tasks.db.sql import driver_connection

    yesterday = datetime.now(timezone.utc) - timedelta(days=1)
    with clean_db.begin() as connection, driver_connection(connection).cursor() as cursor, \
            cursor.copy("COPY source.orders (customer_id, ordered_at, quantity, amount, ingested_at) "
                        "FROM STDIN") as copy, CDNOW_ORDERS.open() as handle:
        for row in csv.DictReader(handle):
            copy.write_row((int(row["customer_id"]), f"{row['order_date']} 00:00:00+00", int(row["quantity"]),
                            row["amount"], yesterday))
    return clean_db
