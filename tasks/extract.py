"""Extract: snapshot the customers to segment into the run's extract table (in the source's order).

By default the source is source.customers (filled by `segments load`). A mapping file points the
pipeline at a platform table instead: it names the table and, for each canonical column, the
platform column that holds it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import sqlalchemy as sa
import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from tasks.errors import ConfigurationError, NoSourceDataError
from tasks.sql import quote_identifier, quote_table, read_sql

SOURCE_COLUMNS = [
    "customer_id", "birth_year", "education", "marital_status", "income", "kids_home", "teens_home",
    "enrolled_on", "recency_days", "spend_wines", "spend_fruits", "spend_meat", "spend_fish", "spend_sweets",
    "spend_gold", "purchases_deals", "purchases_web", "purchases_catalog", "purchases_store", "web_visits_month",
    "accepted_cmp1", "accepted_cmp2", "accepted_cmp3", "accepted_cmp4", "accepted_cmp5", "response", "complain",
]
DEFAULT_SOURCE_TABLE = "source.customers"


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


def extract_customers(connection: sa.Connection, mapping: SourceMapping, today: date) -> ExtractResult:
    """Fill segmentation_work.customers_extract from the mapped source; returns what was read."""
    statement = read_sql("extract/customers_extract.sql").format(
        columns=mapping.select_list(), source=quote_table(mapping.table, "source table"))
    try:
        connection.exec_driver_sql(statement)
    except sa.exc.ProgrammingError as error:
        raise ConfigurationError(f"cannot read the source table {mapping.table}: {error.orig}") from error
    except sa.exc.DataError as error:
        raise ConfigurationError(
            f"the source table {mapping.table} has a column of the wrong type: {error.orig}") from error
    rows = connection.scalar(sa.text("SELECT count(*) FROM segmentation_work.customers_extract"))
    if not rows:
        hint = " Load a file first: segments load PATH." if mapping.table == DEFAULT_SOURCE_TABLE else ""
        raise NoSourceDataError(f"the source table {mapping.table} has no customers.{hint}")
    snapshot, currency = mapping.snapshot_date, mapping.currency
    if mapping.table == DEFAULT_SOURCE_TABLE:
        latest = connection.execute(sa.text(
            "SELECT snapshot_date, currency FROM source.loads ORDER BY load_id DESC LIMIT 1")).first()
        if latest is not None:
            snapshot, currency = snapshot or latest.snapshot_date, currency or latest.currency
    return ExtractResult(rows=rows, source_table=mapping.table, snapshot_date=snapshot or today,
                         currency=currency or "")
