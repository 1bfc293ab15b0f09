"""Extract: snapshot the customers to segment into the run's extract table (in the source's order).

By default the source is source.customers (filled by `segments load`). A mapping file points the
pipeline at a platform table instead: it names the table and, for each canonical column, the
platform column that holds it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from functools import partial
from pathlib import Path

import sqlalchemy as sa
import yaml
from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy.engine import Engine

from tasks.database import PARALLEL_PARTS, in_parallel
from tasks.errors import ConfigurationError, NoSourceDataError
from tasks.sql import analyze_for_planning, page_ranges, quote_identifier, quote_table, read_sql

SOURCE_COLUMNS = [
    "customer_id", "birth_year", "education", "marital_status", "income", "kids_home", "teens_home",
    "enrolled_on", "recency_days", "spend_wines", "spend_fruits", "spend_meat", "spend_fish", "spend_sweets",
    "spend_gold", "purchases_deals", "purchases_web", "purchases_catalog", "purchases_store", "web_visits_month",
    "accepted_cmp1", "accepted_cmp2", "accepted_cmp3", "accepted_cmp4", "accepted_cmp5", "response", "complain",
]
DEFAULT_SOURCE_TABLE = "source.customers"
EXTRACT_TABLE = "segmentation_work.customers_extract"


class SourceMapping(BaseModel):
    """Where the customers are: a table and which of its columns hold each canonical column."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    table: str = DEFAULT_SOURCE_TABLE
    columns: dict[str, str] = {column: column for column in SOURCE_COLUMNS}
    snapshot_date: date | None = None
    currency: str | None = None

    def select_list(self) -> str:
        missing = [column for column in SOURCE_COLUMNS if column not in self.columns]
        unknown = sorted(set(self.columns) - set(SOURCE_COLUMNS))
        if missing or unknown:
            raise ConfigurationError(
                f"source mapping for {self.table}: "
                + (f"no platform column given for {', '.join(missing)}" if missing else "")
                + ("; " if missing and unknown else "")
                + (f"unknown canonical columns {', '.join(unknown)}" if unknown else ""))
        return ", ".join(f"{quote_identifier(self.columns[column], 'mapped column')} AS {column}"
                         for column in SOURCE_COLUMNS)


def load_mapping(path: Path | None) -> SourceMapping:
    if path is None:
        return SourceMapping()
    if not path.is_file():
        raise ConfigurationError(f"source mapping file {path} does not exist")
    try:
        return SourceMapping.model_validate(yaml.safe_load(path.read_text()))
    except (yaml.YAMLError, ValidationError) as error:
        raise ConfigurationError(f"source mapping file {path} is invalid: {error}") from error


@dataclass(frozen=True)
class ExtractResult:
    rows: int
    source_table: str
    snapshot_date: date
    currency: str


def extract_customers(engine: Engine, mapping: SourceMapping, today: date,
                      parts: int = PARALLEL_PARTS) -> ExtractResult:
    """Fill segmentation_work.customers_extract from the mapped source; returns what was read.

    A plain source table is copied in `parts` ranges of pages, each by its own connection at once, all in
    one snapshot (pg_export_snapshot): the extract is the source as of one instant, even while the
    platform writes to it. A view or a partitioned table is copied by one statement.
    """
    source = quote_table(mapping.table, "source table")
    columns = mapping.select_list()
    with engine.begin() as connection:
        connection.exec_driver_sql(f"TRUNCATE {EXTRACT_TABLE}")
    statement = read_sql("extract/customers_extract.sql")
    with _source_errors(mapping), \
            engine.connect().execution_options(isolation_level="REPEATABLE READ") as snapshot_holder:
        snapshot = snapshot_holder.scalar(sa.text("SELECT pg_export_snapshot()"))
        labels = snapshot_holder.execute(sa.text(
            read_sql("extract/source_labels.sql").format(columns=columns, source=source))).all()
        label_arrays = {"label_fields": [label.field for label in labels],
                        "label_raws": [label.raw for label in labels],
                        "label_canonicals": [label.canonical for label in labels]}
        plain_table = snapshot_holder.scalar(sa.text(
            "SELECT relkind IN ('r', 'm') FROM pg_class WHERE oid = to_regclass(:table)"), {"table": source})
        ranges = page_ranges(snapshot_holder, source, parts) if plain_table else [{}]

        def copy(rows: dict[str, str]) -> int:
            where = "WHERE ctid >= %(first_row)s::tid AND ctid < %(end_row)s::tid" if rows else ""
            with engine.connect().execution_options(isolation_level="REPEATABLE READ") as connection:
                connection.exec_driver_sql("SET TRANSACTION SNAPSHOT '" + snapshot + "'")  # an id the server made
                copied = connection.exec_driver_sql(statement.format(columns=columns, source=source, rows=where),
                                                    {**label_arrays, **rows}).rowcount
                connection.commit()
                return copied

        rows = sum(in_parallel([partial(copy, part) for part in ranges]))
        snapshot_holder.rollback()
    with engine.begin() as connection:
        analyze_for_planning(connection, EXTRACT_TABLE)
    if not rows:
        hint = " Load a file first: segments load PATH." if mapping.table == DEFAULT_SOURCE_TABLE else ""
        raise NoSourceDataError(f"the source table {mapping.table} has no customers.{hint}")
    snapshot_date, currency = mapping.snapshot_date, mapping.currency
    if mapping.table == DEFAULT_SOURCE_TABLE:
        with engine.connect() as connection:
            latest = connection.execute(sa.text(
                "SELECT snapshot_date, currency FROM source.loads ORDER BY load_id DESC LIMIT 1")).first()
        if latest is not None:
            snapshot_date, currency = snapshot_date or latest.snapshot_date, currency or latest.currency
    return ExtractResult(rows=rows, source_table=mapping.table, snapshot_date=snapshot_date or today,
                         currency=currency or "")


@contextmanager
def _source_errors(mapping: SourceMapping) -> Iterator[None]:
    """A source that cannot be read is a configuration error that names the table."""
    try:
        yield
    except sa.exc.ProgrammingError as error:
        raise ConfigurationError(f"cannot read the source table {mapping.table}: {error.orig}") from error
    except sa.exc.DataError as error:
        raise ConfigurationError(
            f"the source table {mapping.table} has a column of the wrong type: {error.orig}") from error
