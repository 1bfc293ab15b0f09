"""Extract: snapshot the customers to segment into the run's extract table (in the source's order).

By default the source is source.customers (filled by `segments load`). A mapping file points the
pipeline at a platform table instead: it names the table and, for each canonical column, the
platform column that holds it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import sqlalchemy as sa
import yaml
from psycopg import sql as pgsql
from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy.engine import Engine

from tasks.errors import ConfigurationError, NoSourceDataError
from tasks.db.sql import analyze_for_planning, identifier, run_sql_file, table_columns
from tasks.extract.orders import OrdersMapping
from tasks.features.recipes import FEATURE_SOURCE_COLUMNS

SOURCE_COLUMNS = [
    "customer_id", "birth_year", "education", "marital_status", "income", "kids_home", "teens_home",
    "enrolled_on", "recency_days", "spend_wines", "spend_fruits", "spend_meat", "spend_fish", "spend_sweets",
    "spend_gold", "purchases_deals", "purchases_web", "purchases_catalog", "purchases_store", "web_visits_month",
    "accepted_cmp1", "accepted_cmp2", "accepted_cmp3", "accepted_cmp4", "accepted_cmp5", "response", "complain",
]
DEFAULT_SOURCE_TABLE = "source.customers"
# The extract's columns that source.customers keeps as stored generated columns, each with the function that
# computes it and that function's arguments, in order (sql/migrations/versions/0011_stored_record_hash.sql,
# 0012_stored_spend_total.sql): the extract copies them from source.customers, and computes them for a
# mapped platform table.
RECORD_HASH = "record_hash"
HASHED_COLUMNS = ("income", "birth_year", "enrolled_on", "recency_days", "spend_wines", "purchases_store")
SPEND_TOTAL = "spend_total"
SPEND_COLUMNS = ("spend_wines", "spend_fruits", "spend_meat", "spend_fish", "spend_sweets", "spend_gold")
GENERATED_COLUMNS = {RECORD_HASH: ("source.customer_record_hash", HASHED_COLUMNS),
                     SPEND_TOTAL: ("source.customer_spend_total", SPEND_COLUMNS)}
EXTRACT_TABLE = "segmentation_work.customers_extract"
LABELLED_FIELDS = ("education", "marital_status")  # columns whose raw labels map to canonical ones


class SourceMapping(BaseModel):
    """Where the customers are: a table and which of its columns hold each canonical column."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    table: str = DEFAULT_SOURCE_TABLE
    columns: dict[str, str] = {column: column for column in SOURCE_COLUMNS}
    snapshot_date: date | None = None
    currency: str | None = None
    orders: OrdersMapping = OrdersMapping()  # where a recipe on orders finds them (tasks/extract/orders.py)

    def select_list(self, features: Iterable[str] | None = None) -> pgsql.Composed:
        """The canonical columns in the canonical order, each the mapped column (validated and quoted) AS its
        canonical name, or NULL AS it where the mapping does not name it. With `features` (the recipe's), a
        mapping needs customer_id and the columns those features read (FEATURE_SOURCE_COLUMNS); without, all."""
        unknown = sorted(set(self.columns) - set(SOURCE_COLUMNS))
        if unknown:
            raise ConfigurationError(
                f"source mapping for {self.table}: unknown canonical columns {', '.join(unknown)}")
        if features is None:
            missing = [column for column in SOURCE_COLUMNS if column not in self.columns]
            if missing:
                raise ConfigurationError(
                    f"source mapping for {self.table}: no platform column given for {', '.join(missing)}")
        else:
            if "customer_id" not in self.columns:
                raise ConfigurationError(f"source mapping for {self.table}: no platform column given for "
                                         "customer_id, which every run needs: map it")
            needs = {feature: [column for column in FEATURE_SOURCE_COLUMNS[feature] if column not in self.columns]
                     for feature in features}
            unmet = {feature: missing for feature, missing in needs.items() if missing}
            if unmet:
                raise ConfigurationError(f"source mapping for {self.table}: " + "; ".join(
                    f"the recipe's feature {feature} needs {', '.join(missing)}" for feature, missing in unmet.items())
                    + ": map them")
        # An unmapped column is a NULL the extract casts to its canonical type (customers_extract.sql).
        return pgsql.SQL(", ").join(
            pgsql.SQL("{} AS {}").format(identifier(self.columns[column], "mapped column"), pgsql.Identifier(column))
            if column in self.columns else pgsql.SQL("NULL AS {}").format(pgsql.Identifier(column))
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
                      features: Iterable[str] | None = None) -> ExtractResult:
    """Snapshot the mapped source into segmentation_work.customers_extract; returns what was read.

    One transaction (REPEATABLE READ: one snapshot of the source, even while the platform writes to it)
    builds the next extract by CREATE TABLE AS and puts it in the previous one's place, with canonical
    education and marital-status labels (source.label_vocabulary, see canonical_labels; source.customers
    has them already, and its rows are copied whole, with the record hash and spend total it keeps; a mapped
    table's are computed). A source column of a type the extract's cannot take is refused first, by
    name. With `features` (the recipe's), the mapping needs only the columns they read
    (SourceMapping.select_list); the others are extracted as NULL.
    """
    source = identifier(mapping.table, "source table")
    columns = mapping.select_list(features)
    with _source_errors(mapping), \
            engine.connect().execution_options(isolation_level="REPEATABLE READ") as connection:
        _check_source_types(connection, mapping, source)
        extract_columns = table_columns(connection, EXTRACT_TABLE)
        not_extracted = _source_columns_not_extracted(connection, mapping, extract_columns)
        if not_extracted is not None:
            rows = run_sql_file(connection, "extract/customers_extract_whole_rows.sql").rowcount
            for column in not_extracted:
                run_sql_file(connection, "extract/drop_extract_column.sql", column=column)
        else:
            vocabulary = run_sql_file(connection, "extract/label_vocabulary.sql").all()
            typed = pgsql.SQL(", ").join(
                pgsql.SQL("{} AS {}").format(_typed_value(column, extract_columns), pgsql.Identifier(column.name))
                for column in extract_columns)
            rows = run_sql_file(connection, "extract/customers_extract.sql", {
                f"{field}_labels": json.dumps(canonical_labels([(row.label, row.canonical) for row in vocabulary
                                                                if row.field == field]))
                for field in LABELLED_FIELDS}, columns=columns, source=source, typed=typed).rowcount
        run_sql_file(connection, "extract/swap_extract.sql")
        connection.commit()
    with engine.begin() as connection:
        analyze_for_planning(connection, EXTRACT_TABLE)
    if not rows:
        hint = " Load a file first: segments load PATH." if mapping.table == DEFAULT_SOURCE_TABLE else ""
        raise NoSourceDataError(f"the source table {mapping.table} has no customers.{hint}")
    snapshot_date, currency = mapping.snapshot_date, mapping.currency
    if mapping.table == DEFAULT_SOURCE_TABLE:
        with engine.connect() as connection:
            latest = run_sql_file(connection, "extract/latest_load.sql").first()
        if latest is not None:
            snapshot_date, currency = snapshot_date or latest.snapshot_date, currency or latest.currency
    return ExtractResult(rows=rows, source_table=mapping.table, snapshot_date=snapshot_date or today,
                         currency=currency or "")


def _typed_value(column: sa.Row, extract_columns: list[sa.Row]) -> pgsql.Composed:
    """The SQL of an extract column's value, of its type, from the mapped source's row (`extracted`): the
    generated columns (record hash, spend total) are computed from the typed values they take, as
    source.customers' own are. Types are the catalog's own text (format_type), not configuration."""
    types = {other.name: other.type for other in extract_columns}

    def typed(name: str) -> pgsql.Composed:
        return pgsql.SQL("CAST({} AS {})").format(pgsql.Identifier("extracted", name), pgsql.SQL(types[name]))

    if column.name not in GENERATED_COLUMNS:
        return typed(column.name)
    function, arguments = GENERATED_COLUMNS[column.name]
    return pgsql.SQL("{}({})").format(identifier(function, "function"),
                                      pgsql.SQL(", ").join(typed(name) for name in arguments))


def _source_columns_not_extracted(connection: sa.Connection, mapping: SourceMapping,
                                  extract_columns: list[sa.Row]) -> list[str] | None:
    """For the pipeline's own source table read as it is (source.customers, no mapping), whose columns are
    the extract's, in their order and types, with others among them (load_id): the names of those others,
    which the extract copies with the rest and drops (a drop that leaves the rows as they are). None for any
    other source, or one laid out otherwise. Copying whole rows skips taking each row apart and building it
    anew, most of the work of a CREATE TABLE AS of listed columns. Its labels are canonical already, with the
    raw ones beside them (the contract of source.customers, which `segments load` and `segments generate`
    keep)."""
    if mapping.table != DEFAULT_SOURCE_TABLE or mapping.columns != SourceMapping().columns:
        return None
    extracted = {column.name for column in extract_columns}
    source_columns = table_columns(connection, DEFAULT_SOURCE_TABLE)
    laid_out = [(column.name, column.type) for column in source_columns if column.name in extracted]
    if laid_out != [(column.name, column.type) for column in extract_columns]:
        return None
    return [column.name for column in source_columns if column.name not in extracted]


def canonical_labels(vocabulary: list[tuple[str, str]]) -> dict[str, str]:
    """The canonical label of each vocabulary label (lower case, as source.label_vocabulary keeps them), and of
    the ways sources usually write it (upper case, capitalised, each word capitalised), for the extract's
    lookup: a raw label found as it is costs one lookup, where lower(btrim()) per customer cost half the
    extract at a million customers. Any other way of writing a label takes the slower path, which is the
    definition (sql/extract/customers_extract.sql). Only ASCII labels get variants: Python's case mapping of
    other letters need not be PostgreSQL's."""
    labels: dict[str, str] = {}
    for label, canonical in vocabulary:
        variants = {label}
        if label.isascii():
            variants |= {label.upper(), label.capitalize(), " ".join(word.capitalize() for word in label.split(" "))}
        labels |= dict.fromkeys(variants, canonical)
    return labels


def _check_source_types(connection: sa.Connection, mapping: SourceMapping, source: pgsql.Identifier) -> None:
    mismatched = run_sql_file(connection, "extract/source_types.sql", {
        "source": source.as_string(None), "canonical_columns": list(mapping.columns),
        "source_columns": list(mapping.columns.values())}).all()
    if mismatched:
        raise ConfigurationError(f"the source table {mapping.table} has columns of the wrong type: " + "; ".join(
            f"{mapping.columns[row.canonical_column]} ({row.canonical_column}) is {row.source_type}, expected "
            f"{row.expected_type}" for row in mismatched))


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
