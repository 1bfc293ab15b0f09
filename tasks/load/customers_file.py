"""Load a customers CSV export into source.customers, in the canonical contract, with COPY.

Accepts the Indonesian course variant and the original Kaggle export: comma, tab or semicolon
separated, optional UTF-8 BOM, `dd-mm-yyyy` or `yyyy-mm-dd` dates (one format per file, decided
from the whole column, never per row), Indonesian or English labels, `MntCoke` or `MntWines`.
A load replaces the table's content in one transaction: a bad file leaves the previous load intact.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from psycopg import sql as pgsql
from sqlalchemy.engine import Engine

from tasks.errors import InputFileError
from tasks.db.sql import driver_connection, run_sql_file, sql_file, vacuum_after_load

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

INTEGER_COLUMNS = [
    "customer_id", "birth_year", "kids_home", "teens_home", "recency_days",
    "purchases_deals", "purchases_web", "purchases_catalog", "purchases_store", "web_visits_month",
    "accepted_cmp1", "accepted_cmp2", "accepted_cmp3", "accepted_cmp4", "accepted_cmp5",
    "response", "complain",
]
AMOUNT_COLUMNS = ["income", "spend_wines", "spend_fruits", "spend_meat", "spend_fish", "spend_sweets", "spend_gold"]
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

DATE_FORMATS = {
    # name: (pattern every value must match, strptime format)
    "dd-mm-yyyy": (re.compile(r"^\d{2}[-/.]\d{2}[-/.]\d{4}$"), "%d-%m-%Y"),
    "yyyy-mm-dd": (re.compile(r"^\d{4}-\d{2}-\d{2}$"), "%Y-%m-%d"),
}
CHUNK_ROWS = 250_000


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


def sniff_delimiter(header_line: str, path: str) -> str:
    counts = {delimiter: header_line.count(delimiter) for delimiter in (",", "\t", ";")}
    delimiter, count = max(counts.items(), key=lambda item: item[1])
    if count == 0:
        raise InputFileError(path, "cannot tell the delimiter: the header has no comma, tab or semicolon",
                             line=1, value=header_line[:80])
    return delimiter


def read_header(path: Path, delimiter: str) -> list[str]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return next(csv.reader(handle, delimiter=delimiter))


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


def detect_date_format(values: pd.Series, path: str, first_line: int) -> str:
    """The one format every non-empty value matches; ISO and day-first are told apart by shape."""
    present = values[values != ""]
    for name, (pattern, _) in DATE_FORMATS.items():
        if present.str.match(pattern).all():
            return name
    sample = present.iloc[0] if len(present) else ""
    raise InputFileError(path, "enrolment dates are neither all dd-mm-yyyy nor all yyyy-mm-dd",
                         line=first_line, column="Dt_Customer", value=sample)


def _fail_at(mask: pd.Series, chunk: pd.DataFrame, column: str, header: str, path: str, expected: str) -> None:
    if mask.any():
        position = int(mask.to_numpy().nonzero()[0][0])
        line = int(chunk.index[position]) + 2  # header is line 1; index counts data rows from 0
        raise InputFileError(path, f"expected {expected}", line=line, column=header,
                             value=chunk[column].iloc[position])


def convert_chunk(chunk: pd.DataFrame, *, path: str, headers: dict[str, str], date_format: str,
                  vocabulary: Vocabulary) -> pd.DataFrame:
    """Text columns (canonical names) -> typed canonical columns; raises on the first bad value."""
    out = pd.DataFrame(index=chunk.index)
    for column in INTEGER_COLUMNS:
        text = chunk[column].str.strip()
        number = pd.to_numeric(text, errors="coerce")
        bad = number.isna() | (number != number.round())
        _fail_at(bad, chunk, column, headers[column], path, "a whole number")
        out[column] = number.astype("int64")
    for column in AMOUNT_COLUMNS:
        text = chunk[column].str.strip()
        number = pd.to_numeric(text, errors="coerce")
        bad = number.isna() & ~((text == "") & (column in NULLABLE_COLUMNS))
        _fail_at(bad, chunk, column, headers[column], path, "a number")
        out[column] = number
    pattern, strptime_format = DATE_FORMATS[date_format]
    text = chunk["enrolled_on"].str.strip()
    normalised = text.str.replace(r"[/.]", "-", regex=True) if date_format == "dd-mm-yyyy" else text
    parsed = pd.to_datetime(normalised, format=strptime_format, errors="coerce")
    _fail_at(parsed.isna() | ~text.str.match(pattern), chunk, "enrolled_on", headers["enrolled_on"], path,
             f"a date in the file's format {date_format}")
    out["enrolled_on"] = parsed.dt.strftime("%Y-%m-%d")
    for column in LABEL_COLUMNS:
        raw = chunk[column].str.strip()
        _fail_at(raw == "", chunk, column, headers[column], path, "a label")
        lowered = raw.str.lower()
        # Unknown labels pass through lower-cased so that validation quarantines them visibly.
        out[column] = lowered.map(lambda label, field=column: vocabulary.canonical.get((field, label), label))
        out[f"{column}_raw"] = raw
    return out


def iter_chunks(path: Path, delimiter: str, header_map: dict[str, str]) -> Iterator[pd.DataFrame]:
    reader = pd.read_csv(path, sep=delimiter, dtype=str, keep_default_na=False, encoding="utf-8-sig",
                         usecols=list(header_map), chunksize=CHUNK_ROWS, quotechar='"')
    for chunk in reader:
        yield chunk.rename(columns=header_map)


@dataclass(frozen=True)
class Vocabulary:
    """source.label_vocabulary in memory: (field, lower-case label) -> canonical value and language."""

    canonical: dict[tuple[str, str], str]
    language: dict[tuple[str, str], str]

    @classmethod
    def read(cls, connection: sa.Connection) -> Vocabulary:
        rows = run_sql_file(connection, "load/label_vocabulary.sql").all()
        return cls({(f, label): c for f, label, c, _ in rows}, {(f, label): lang for f, label, _, lang in rows})

    def language_of(self, labels: pd.Series) -> str:
        """The language most education labels are written in (id, en; 'canonical' when already canonical)."""
        found = labels.str.strip().str.lower().map(lambda label: self.language.get(("education", label)))
        counts = found.value_counts()
        return str(counts.index[0]) if len(counts) else "unknown"


def load_customers_file(engine: Engine, path: Path, *, currency: str | None = None,
                        snapshot_date: date | None = None,
                        progress: Callable[[int, float], None] | None = None) -> LoadResult:
    """Replace source.customers with the customers in `path`. Nothing is written if any row is bad."""
    started = time.perf_counter()
    name = str(path)
    if not path.is_file():
        raise InputFileError(name, "no such file")
    with path.open(encoding="utf-8-sig", newline="") as handle:
        try:
            header_line = handle.readline()
        except UnicodeDecodeError as error:
            raise InputFileError(name, "not UTF-8 text", line=1) from error
    if not header_line.strip():
        raise InputFileError(name, "the file is empty", line=1)
    delimiter = sniff_delimiter(header_line, name)
    header_map = map_header(read_header(path, delimiter), name)
    headers = {canonical: header for header, canonical in header_map.items()}
    sha256 = hashlib.sha256(path.read_bytes()).hexdigest()

    with engine.begin() as connection:
        vocabulary = Vocabulary.read(connection)
        run_sql_file(connection, "load/clear_customers.sql")
        load_id = run_sql_file(connection, "load/start_file_load.sql", {
            "file_name": path.name, "file_sha256": sha256, "delimiter": delimiter}).scalar()
        rows = 0
        date_format = language = ""
        latest_enrolment: date | None = None
        copy_statement = sql_file("load/copy_customers.sql",
                                  columns=pgsql.SQL(", ").join(map(pgsql.Identifier, TABLE_COLUMNS)))
        with driver_connection(connection).cursor() as cursor, cursor.copy(copy_statement) as copy:
            for chunk in iter_chunks(path, delimiter, header_map):
                if not date_format:
                    date_format = detect_date_format(chunk["enrolled_on"].str.strip(), name, rows + 2)
                    language = vocabulary.language_of(chunk["education"])
                typed = convert_chunk(chunk, path=name, headers=headers, date_format=date_format,
                                      vocabulary=vocabulary)
                chunk_latest = pd.to_datetime(typed["enrolled_on"]).max()
                if pd.notna(chunk_latest) and (latest_enrolment is None or chunk_latest.date() > latest_enrolment):
                    latest_enrolment = chunk_latest.date()
                typed["load_id"] = load_id
                buffer = io.StringIO()
                typed[TABLE_COLUMNS].to_csv(buffer, header=False, index=False)
                copy.write(buffer.getvalue())
                rows += len(typed)
                if progress:
                    progress(rows, time.perf_counter() - started)
        if rows == 0:
            raise InputFileError(name, "the file has a header but no customers", line=2)
        _check_unique_ids(connection, path, delimiter, headers["customer_id"])
        resolved_currency = currency or ("IDR" if "MntCoke" in header_map or language == "id" else "USD")
        # The export does not say when it was taken: default to the day after the latest enrolment.
        resolved_snapshot = snapshot_date or (latest_enrolment + timedelta(days=1))
        run_sql_file(connection, "load/finish_file_load.sql", {
            "date_format": date_format, "label_language": language, "currency": resolved_currency,
            "snapshot_date": resolved_snapshot, "row_count": rows, "load_id": load_id})
    vacuum_after_load(engine, "source.customers")
    return LoadResult(load_id, rows, delimiter, date_format, language, resolved_currency, resolved_snapshot,
                      time.perf_counter() - started)


def _check_unique_ids(connection: sa.Connection, path: Path, delimiter: str, header: str) -> None:
    """Fail on a repeated customer id, naming the lines (the database finds it; the file gives the lines)."""
    duplicate = run_sql_file(connection, "load/repeated_customer_id.sql").scalar()
    if duplicate is None:
        return
    ids = pd.read_csv(path, sep=delimiter, usecols=[header], dtype=str, encoding="utf-8-sig")[header]
    lines = [int(index) + 2 for index in ids.index[pd.to_numeric(ids.str.strip(), errors="coerce") == duplicate]]
    raise InputFileError(str(path), f"customer id appears more than once (lines {', '.join(map(str, lines))})",
                         line=lines[0] if lines else None, column=header, value=str(duplicate))
