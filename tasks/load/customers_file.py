"""Load a customers CSV export into source.customers, in the canonical contract, with COPY.

Accepts the Indonesian course variant and the original Kaggle export: comma, tab or semicolon
separated, optional UTF-8 BOM, `dd-mm-yyyy` or `yyyy-mm-dd` dates (one format per file: the one most of
the first chunk's dates are in, never per row), Indonesian or English labels, `MntCoke` or `MntWines`.
Every line is read strictly (tasks/load/csv_checks.py) and every value typed with the bounds of its
column before it is copied: a bad file is refused at its first bad line, naming the column, the value and
what was expected. A load replaces the table's content in one transaction: a bad file leaves the previous
load intact.
"""

from __future__ import annotations

import io
import logging
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import psycopg
import pyarrow as pa
import pyarrow.csv as pa_csv
import sqlalchemy as sa
from psycopg import sql as pgsql
from sqlalchemy.engine import Engine

from tasks.errors import ConfigurationError, InputFileError
from tasks.db.sql import driver_connection, run_sql_file, sql_file, vacuum_after_load
from tasks.load.csv_checks import (
    DECIMAL_NUMBER,
    WHOLE_NUMBER,
    DelimitedFile,
    Problem,
    decimal_columns,
    decimal_range,
    file_sha256,
    integer_range,
    refuse_earliest,
    whole_number_columns,
    whole_numbers,
)
from tasks.load.csv_checks import sniff_delimiter  # noqa: F401 (tasks/load/generate.py reads it from here)

log = logging.getLogger(__name__)

# Source header -> canonical column. Several headers may name the same canonical column.
HEADER_ALIASES: dict[str, str] = {
    "ID": "customer_id",
    "Year_Birth": "birth_year",
    "Education": "education",
    "Marital_Status": "marital_status",
    "Income": "income",
    "Kidhome": "kids_home",
    "Teenhome": "teens_home",
    "Dt_Customer": "enrolled_on",
    "Recency": "recency_days",
    "MntWines": "spend_wines",
    "MntCoke": "spend_wines",
    "MntFruits": "spend_fruits",
    "MntMeatProducts": "spend_meat",
    "MntFishProducts": "spend_fish",
    "MntSweetProducts": "spend_sweets",
    "MntGoldProds": "spend_gold",
    "NumDealsPurchases": "purchases_deals",
    "NumWebPurchases": "purchases_web",
    "NumCatalogPurchases": "purchases_catalog",
    "NumStorePurchases": "purchases_store",
    "NumWebVisitsMonth": "web_visits_month",
    "AcceptedCmp1": "accepted_cmp1",
    "AcceptedCmp2": "accepted_cmp2",
    "AcceptedCmp3": "accepted_cmp3",
    "AcceptedCmp4": "accepted_cmp4",
    "AcceptedCmp5": "accepted_cmp5",
    "Response": "response",
    "Complain": "complain",
}
# Columns that carry no information about the customer (a row index, constants).
IGNORED_HEADERS = {"Number", "Unnamed: 0", "Z_CostContact", "Z_Revenue"}

# The PostgreSQL type of each integer column of source.customers (a test holds them to the table's): a
# value is refused unless that type holds it exactly.
INTEGER_TYPES = {
    "customer_id": "bigint", "birth_year": "integer", "kids_home": "integer", "teens_home": "integer",
    "recency_days": "integer", "purchases_deals": "integer", "purchases_web": "integer",
    "purchases_catalog": "integer", "purchases_store": "integer", "web_visits_month": "integer",
    "accepted_cmp1": "smallint", "accepted_cmp2": "smallint", "accepted_cmp3": "smallint",
    "accepted_cmp4": "smallint", "accepted_cmp5": "smallint", "response": "smallint", "complain": "smallint",
}
INTEGER_COLUMNS = list(INTEGER_TYPES)
AMOUNT_COLUMNS = ["income", "spend_wines", "spend_fruits", "spend_meat", "spend_fish", "spend_sweets", "spend_gold"]
AMOUNT_TYPE = (18, 2)  # numeric(18, 2), every amount column
LABEL_COLUMNS = ["education", "marital_status"]
REQUIRED_COLUMNS = sorted(set(HEADER_ALIASES.values()))
NULLABLE_COLUMNS = {"income"}  # the export leaves unknown incomes empty

# Output column order of the COPY into source.customers.
TABLE_COLUMNS = [
    "customer_id", "birth_year", "education", "education_raw", "marital_status", "marital_status_raw",
    "income", "kids_home", "teens_home", "enrolled_on", "recency_days",
    "spend_wines", "spend_fruits", "spend_meat", "spend_fish", "spend_sweets", "spend_gold",
    "purchases_deals", "purchases_web", "purchases_catalog", "purchases_store", "web_visits_month",
    "accepted_cmp1", "accepted_cmp2", "accepted_cmp3", "accepted_cmp4", "accepted_cmp5",
    "response", "complain", "load_id",
]

DATE_FORMATS = {  # name: the pattern every date of a file in that format matches
    "dd-mm-yyyy": re.compile(r"^\d{2}[-/.]\d{2}[-/.]\d{4}$"),
    "yyyy-mm-dd": re.compile(r"^\d{4}-\d{2}-\d{2}$"),
}
CHUNK_ROWS = 50_000  # records typed at a time: memory is bounded by this, not by the file
MAX_CURRENCY_CHARS = 16


@dataclass(frozen=True)
class LoadResult:
    load_id: int
    rows: int
    delimiter: str
    date_format: str
    label_language: str
    currency: str
    snapshot_date: date
    seconds: float


def read_header(path: Path, delimiter: str | None = None) -> list[str]:
    """The header's names as written (the delimiter is the file's own, sniffed from the header)."""
    return DelimitedFile(path).header


def map_header(header: list[str], path: str) -> dict[str, str]:
    """Source header -> canonical column; fails on duplicate or missing columns."""
    seen: dict[str, int] = {}
    mapping: dict[str, str] = {}
    for position, raw_name in enumerate(header, start=1):
        name = raw_name.strip()
        if name in seen:
            raise InputFileError(path, f"duplicate header {name!r} (columns {seen[name]} and {position})",
                                 line=1, column=name)
        seen[name] = position
        canonical = HEADER_ALIASES.get(name)
        if canonical is None:
            if name not in IGNORED_HEADERS:
                log.warning("%s: ignoring unknown column %r", path, name)
            continue
        if canonical in mapping.values():
            other = next(source for source, target in mapping.items() if target == canonical)
            raise InputFileError(path, f"columns {other!r} and {name!r} both give {canonical}", line=1,
                                 column=name)
        mapping[raw_name] = canonical
    missing = [column for column in REQUIRED_COLUMNS if column not in mapping.values()]
    if missing:
        expected = {canonical: [h for h, c in HEADER_ALIASES.items() if c == canonical] for canonical in missing}
        raise InputFileError(path, "missing required column(s): "
                             + ", ".join(f"{c} (header {' or '.join(h)})" for c, h in expected.items()), line=1)
    return mapping


def detect_date_format(values: pd.Series, path: str, first_line: int | None = None,
                       column: str = "Dt_Customer") -> str:
    """The format most of the dates are written in (ISO and day-first are told apart by shape); a date of
    another shape is refused at its line by check_chunk. `values` are indexed by line."""
    present = values[values != ""]
    matching = {name: int(present.str.match(pattern).sum()) for name, pattern in DATE_FORMATS.items()}
    chosen = max(matching, key=lambda name: matching[name])
    if matching[chosen] == 0:
        where = present if len(present) else values
        raise InputFileError(path, "expected a date dd-mm-yyyy or yyyy-mm-dd",
                             line=int(where.index[0]) if len(where) else first_line, column=column,
                             value=where.iloc[0] if len(where) else None)
    return chosen


def check_chunk(chunk: pd.DataFrame, *, path: str, headers: dict[str, str], date_format: str,
                vocabulary: Vocabulary) -> pd.DataFrame:
    """Text columns (canonical names, indexed by line) -> the canonical columns as COPY writes them: integers
    as int64, amounts as their exact text (empty: unknown), dates as ISO text, labels canonical and raw.
    Refuses the file at the earliest line with a value its column cannot hold."""
    out: dict[str, pd.Series] = {}
    problems: list[Problem] = []
    for sql_type in dict.fromkeys(INTEGER_TYPES.values()):
        columns = [column for column, of_type in INTEGER_TYPES.items() if of_type == sql_type]
        parsed = whole_number_columns({column: chunk[column] for column in columns}, sql_type)
        for column, (values, not_written, out_of_range, text) in parsed.items():
            out[column] = values
            problems += [Problem(not_written, text, headers[column], WHOLE_NUMBER),
                         Problem(out_of_range, text, headers[column], integer_range(sql_type))]
    for nullable in (False, True):
        columns = [column for column in AMOUNT_COLUMNS if (column in NULLABLE_COLUMNS) == nullable]
        parsed = decimal_columns({column: chunk[column] for column in columns}, *AMOUNT_TYPE)
        for column, (values, not_written, out_of_range, text) in parsed.items():
            expected = DECIMAL_NUMBER
            if nullable:
                not_written &= text != ""
                expected += ", or nothing when unknown"
                values = values.where(text != "")  # NULL
            out[column] = values
            problems += [Problem(not_written, text, headers[column], expected),
                         Problem(out_of_range, text, headers[column], decimal_range(*AMOUNT_TYPE))]
    text = chunk["enrolled_on"].str.strip()
    shaped = text.str.match(DATE_FORMATS[date_format]).fillna(False).astype(bool)
    iso = text if date_format == "yyyy-mm-dd" else text.str.replace(
        r"^(\d{2})[-/.](\d{2})[-/.](\d{4})$", r"\3-\2-\1", regex=True)
    real = pd.to_datetime(iso.where(shaped, ""), format="%Y-%m-%d", errors="coerce").notna()
    problems.append(Problem(~shaped & (text != ""), text, headers["enrolled_on"],
                            f"a date {date_format}, the format of most of the file's dates (the enrolment dates "
                            "are neither all dd-mm-yyyy nor all yyyy-mm-dd)"))
    problems.append(Problem(~real, text, headers["enrolled_on"], f"a date in the file's format {date_format}"))
    out["enrolled_on"] = iso
    for column in LABEL_COLUMNS:
        raw = chunk[column].str.strip()
        problems.append(Problem(raw == "", raw, headers[column], "a label"))
        lowered = raw.str.lower()
        # Unknown labels pass through lower-cased so that validation quarantines them visibly.
        out[column] = lowered.map(vocabulary.labels_of(column)).fillna(lowered)
        out[f"{column}_raw"] = raw
    refuse_earliest(problems, path)
    return pd.DataFrame(out)


def convert_chunk(chunk: pd.DataFrame, *, path: str, headers: dict[str, str], date_format: str,
                  vocabulary: Vocabulary) -> pd.DataFrame:
    """check_chunk's columns with the amounts as numbers (NaN: unknown), for computing on them."""
    out = check_chunk(chunk, path=path, headers=headers, date_format=date_format, vocabulary=vocabulary)
    for column in AMOUNT_COLUMNS:
        out[column] = pd.to_numeric(out[column]).astype("float64")
    return out


def iter_chunks(path: Path, delimiter: str | None = None, header_map: dict[str, str] | None = None,
                chunk_rows: int = CHUNK_ROWS, file: DelimitedFile | None = None) -> Iterator[pd.DataFrame]:
    """The file's records as text columns named canonically (header_map), indexed by the line each starts on
    (the delimiter is the file's own, sniffed from its header)."""
    file = file or DelimitedFile(path)
    header_map = header_map if header_map is not None else map_header(file.header, file.name)
    positions = {canonical: file.header.index(header) for header, canonical in header_map.items()}
    for records in file.records(chunk_rows):
        yield pd.DataFrame({canonical: records.column(position) for canonical, position in positions.items()})


@dataclass(frozen=True)
class Vocabulary:
    """source.label_vocabulary in memory: (field, lower-case label) -> canonical value and language."""

    canonical: dict[tuple[str, str], str]
    language: dict[tuple[str, str], str]

    @classmethod
    def read(cls, connection: sa.Connection) -> Vocabulary:
        rows = run_sql_file(connection, "load/label_vocabulary.sql").all()
        return cls({(f, label): c for f, label, c, _ in rows}, {(f, label): lang for f, label, _, lang in rows})

    def labels_of(self, field: str) -> dict[str, str]:
        """Lower-case label -> canonical label, of one field."""
        return {label: canonical for (of, label), canonical in self.canonical.items() if of == field}

    def language_of(self, labels: pd.Series) -> str:
        """The language most education labels are written in (id, en; 'canonical' when already canonical)."""
        found = labels.str.strip().str.lower().map(lambda label: self.language.get(("education", label)))
        counts = found.value_counts()
        return str(counts.index[0]) if len(counts) else "unknown"


def check_currency(currency: str | None) -> str | None:
    """The currency a user gives (--currency), refused unless a short printable code or symbol."""
    if currency is None or currency == "":
        return None
    if len(currency) > MAX_CURRENCY_CHARS or not currency.isprintable() or not currency.strip():
        raise ConfigurationError(f"--currency must be a currency code such as IDR or USD (1 to {MAX_CURRENCY_CHARS} "
                                 f"printable characters), got {currency[:40]!r}")
    return currency.strip()


def load_customers_file(engine: Engine, path: Path, *, currency: str | None = None,
                        snapshot_date: date | None = None,
                        progress: Callable[[int, float], None] | None = None) -> LoadResult:
    """Replace source.customers with the customers in `path`. Nothing is written if any line is bad."""
    started = time.perf_counter()
    currency = check_currency(currency)
    file = DelimitedFile(path)
    name = file.name
    header_map = map_header(file.header, name)
    headers = {canonical: header for header, canonical in header_map.items()}
    sha256 = file_sha256(path)

    with engine.begin() as connection:
        vocabulary = Vocabulary.read(connection)
        run_sql_file(connection, "load/clear_customers.sql")
        load_id = run_sql_file(connection, "load/start_file_load.sql", {
            "file_name": path.name, "file_sha256": sha256, "delimiter": file.delimiter}).scalar()
        rows = 0
        date_format = language = ""
        latest_enrolment = ""
        copy_statement = sql_file("load/copy_customers.sql",
                                  columns=pgsql.SQL(", ").join(map(pgsql.Identifier, TABLE_COLUMNS)))
        try:
            with driver_connection(connection).cursor() as cursor, cursor.copy(copy_statement) as copy:
                for chunk in iter_chunks(path, file.delimiter, header_map, file=file):
                    if not date_format:
                        date_format = detect_date_format(chunk["enrolled_on"].str.strip(), name,
                                                         column=headers["enrolled_on"])
                        language = vocabulary.language_of(chunk["education"])
                    typed = check_chunk(chunk, path=name, headers=headers, date_format=date_format,
                                        vocabulary=vocabulary)
                    latest_enrolment = max(latest_enrolment, typed["enrolled_on"].max())
                    typed["load_id"] = load_id
                    copy.write(_csv_bytes(typed[TABLE_COLUMNS]))
                    rows += len(typed)
                    if progress:
                        progress(rows, time.perf_counter() - started)
        except psycopg.DataError as error:
            # Every value was checked against its column: the database refusing one is a gap in those checks.
            raise InputFileError(name, f"the database refused a value: {str(error).splitlines()[0]}; nothing was "
                                 "loaded") from error
        if rows == 0:
            raise InputFileError(name, "the file has a header but no customers", line=2)
        _check_unique_ids(connection, file, headers["customer_id"])
        resolved_currency = currency or ("IDR" if "MntCoke" in header_map or language == "id" else "USD")
        resolved_snapshot = snapshot_date or _day_after(date.fromisoformat(latest_enrolment), name)
        run_sql_file(connection, "load/finish_file_load.sql", {
            "date_format": date_format, "label_language": language, "currency": resolved_currency,
            "snapshot_date": resolved_snapshot, "row_count": rows, "load_id": load_id})
    vacuum_after_load(engine, "source.customers")
    return LoadResult(load_id, rows, file.delimiter, date_format, language, resolved_currency, resolved_snapshot,
                      time.perf_counter() - started)


def _csv_bytes(frame: pd.DataFrame) -> bytes:
    """The rows as COPY's CSV: a missing value unquoted (NULL), every text quoted (never NULL)."""
    sink = io.BytesIO()
    pa_csv.write_csv(pa.Table.from_pandas(frame, preserve_index=False), sink,
                     write_options=pa_csv.WriteOptions(include_header=False))
    return sink.getvalue()


def _day_after(latest_enrolment: date, path: str) -> date:
    """The export does not say when it was taken: default to the day after the latest enrolment."""
    if latest_enrolment == date.max:
        raise InputFileError(path, f"the latest enrolment is {date.max}, which leaves no day after it to take as the "
                             "snapshot date: give --snapshot-date")
    return latest_enrolment + timedelta(days=1)


def _check_unique_ids(connection: sa.Connection, file: DelimitedFile, header: str) -> None:
    """Fail on a repeated customer id, naming the lines (the database finds it; the file gives the lines)."""
    duplicate = run_sql_file(connection, "load/repeated_customer_id.sql").scalar()
    if duplicate is None:
        return
    position = file.header.index(header)
    lines: list[int] = []
    for records in file.records(CHUNK_ROWS):
        ids, _, _ = whole_numbers(records.column(position).str.strip(), INTEGER_TYPES["customer_id"])
        lines += [int(line) for line in ids.index[ids == duplicate]]
    raise InputFileError(file.name, f"customer id appears more than once (lines {', '.join(map(str, lines))})",
                         line=lines[0] if lines else None, column=header, value=str(duplicate))
