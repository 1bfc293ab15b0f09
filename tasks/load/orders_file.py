"""Load an orders file into source.orders with COPY, all or nothing.

The file: comma, tab or semicolon separated (the one that splits the first line into the most fields), or,
when the first line has none of them, separated by runs of whitespace (fixed-width exports such as CDNOW's);
UTF-8, optional BOM. Columns are found by their header, under common names (HEADER_NAMES, compared ignoring
case, spaces, underscores, hyphens and dots), or named: `columns` maps a canonical column to a header, or to
a position (1 = first field). Positions mean the file has no header line: its first line is an order.

Values, checked by the parsers every loader shares (tasks.load.csv_checks): ids are whole numbers in
bigint's range (quantity in integer's); amounts are plain decimal numbers (negative for refunds) within
numeric(18,4). Dates are one format per file, taken from the first order: ISO 8601 (a date, or a date and
time with or without a UTC offset), YYYYMMDD, or DD/MM/YYYY or MM/DD/YYYY (also with - or . and an
optional time), the order decided by the first date whose day is above 12. A date, or a time without an
offset, is local time in the business time zone.

The file is read and converted in chunks and copied as it is read, in one transaction that first removes
the orders of earlier files (rows of other jobs, load_id NULL, stay): memory does not grow with the file,
and a bad line, named with its line number, column and value, leaves the previous orders in place. Blank
lines are skipped; a line with fewer fields than the header reads the missing ones as empty (a required
one is then refused); line numbers count one order per line (a quoted value spanning lines shifts them).
(pandas' C reader, not csv_checks.DelimitedFile: about twice as fast, and it reads whitespace-separated
and headerless files.)
"""

from __future__ import annotations

import csv
import json
import re
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pandas as pd
import psycopg
from psycopg import sql as pgsql
from sqlalchemy.engine import Engine

from tasks.db.sql import driver_connection, run_sql_file, sql_file, vacuum_after_load
from tasks.errors import ConfigurationError, InputFileError
from tasks.load.csv_checks import (DECIMAL_NUMBER, WHOLE_NUMBER, Problem, decimal_range, decimals, file_sha256,
                                   integer_range, refuse_earliest, whole_numbers)
from tasks.extract.orders import check_timezone

CANONICAL_COLUMNS = ("customer_id", "ordered_at", "amount", "order_id", "channel", "category", "quantity")
REQUIRED_COLUMNS = ("customer_id", "ordered_at", "amount")
TEXT_COLUMNS = ("order_id", "channel", "category")

# Headers recognised as each canonical column, normalised (see normalise_header).
HEADER_NAMES: dict[str, frozenset[str]] = {
    "customer_id": frozenset({"customerid", "customer", "custid", "userid", "clientid", "customernumber",
                              "customerno", "buyerid", "memberid"}),
    "ordered_at": frozenset({"orderedat", "orderdate", "date", "invoicedate", "createdat", "ordertime",
                             "timestamp", "purchasedat", "orderdatetime", "orderedon", "purchasedate",
                             "transactiondate", "saledate"}),
    "amount": frozenset({"amount", "revenue", "total", "value", "pricetotal", "sales", "ordertotal",
                         "ordervalue", "totalamount", "totalprice", "netamount", "grossamount", "spend"}),
    "order_id": frozenset({"orderid", "invoiceno", "invoice", "invoiceid", "invoicenumber", "ordernumber",
                           "orderno", "order", "transactionid"}),
    "channel": frozenset({"channel", "saleschannel", "orderchannel"}),
    "category": frozenset({"category", "productcategory", "categoryname"}),
    "quantity": frozenset({"quantity", "qty", "items", "units", "itemcount", "numitems"}),
}
# An amount header may end in its currency (amount_usd, revenue EUR): the load's currency unless given.
CURRENCY_SUFFIXES = frozenset({
    "usd", "eur", "gbp", "jpy", "cny", "inr", "idr", "aud", "cad", "chf", "sek", "nok", "dkk", "pln", "czk",
    "huf", "brl", "mxn", "zar", "krw", "sgd", "hkd", "nzd", "try", "thb", "myr", "php", "vnd", "ils", "aed",
    "sar"})
DEFAULT_CURRENCY = "USD"
WHITESPACE = "whitespace"  # the delimiter of whitespace-separated files, as source.order_loads records it
CHUNK_ROWS = 200_000
NULL = r"\N"  # COPY text format

ISO_DATE = r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?: ?(?:Z|[+-]\d{2}(?::?\d{2})?))?)?"
COMPACT_DATE = r"\d{8}"
# Day and month as two digits each (one-digit ones are padded first); the order is the file's.
NUMERIC_DATE = r"\d\d[/.-]\d\d[/.-]\d{4}(?:[ T]\d\d:\d\d(?::\d\d)?)?"
DATE_FORMATS = "YYYY-MM-DD (ISO 8601, optionally with a time and a UTC offset), YYYYMMDD, DD/MM/YYYY or MM/DD/YYYY"

DateOrder = Literal["day-first", "month-first"]


@dataclass(frozen=True)
class OrdersLoadResult:
    load_id: int
    rows: int
    delimiter: str
    columns: dict[str, str]  # canonical column -> the file's header, or "field N" without a header
    date_format: str
    timezone: str
    currency: str
    seconds: float


@dataclass(frozen=True)
class FileLayout:
    """How the file's lines are read: delimiter, fields per line, and which field is which column."""

    delimiter: str
    has_header: bool
    fields: int
    positions: dict[str, int]  # canonical column -> 0-based field
    labels: dict[str, str]  # canonical column -> header, or "field N", as messages name it

    @property
    def first_data_line(self) -> int:
        return 2 if self.has_header else 1


# -- which field is which column ----------------------------------------------------------------------------
def normalise_header(name: str) -> str:
    return re.sub(r"[\s_.\-]", "", name).lower()


def parse_column_options(options: Iterable[str]) -> dict[str, str]:
    """`--column CANONICAL=HEADER` (or CANONICAL=N, a 1-based position) options as a mapping."""
    by_normal_name = {normalise_header(column): column for column in CANONICAL_COLUMNS}
    columns: dict[str, str] = {}
    for option in options:
        name, separator, header = option.partition("=")
        canonical = by_normal_name.get(normalise_header(name))
        if not separator or not header.strip() or canonical is None:
            raise ConfigurationError(f"--column {option!r}: expected CANONICAL=HEADER or CANONICAL=POSITION, "
                                     f"CANONICAL one of {', '.join(CANONICAL_COLUMNS)}")
        if canonical in columns:
            raise ConfigurationError(f"--column {option!r}: {canonical} is named twice")
        columns[canonical] = header.strip()
    return columns


def sniff_delimiter(first_line: str) -> str:
    counts = {delimiter: len(split_line(first_line, delimiter)) for delimiter in (",", "\t", ";")}
    delimiter, fields = max(counts.items(), key=lambda item: item[1])
    return delimiter if fields > 1 else WHITESPACE


def split_line(line: str, delimiter: str) -> list[str]:
    if delimiter == WHITESPACE:
        return next(csv.reader([line.strip()], delimiter=" ", skipinitialspace=True), [])
    return [field.strip() for field in next(csv.reader([line.rstrip("\r\n")], delimiter=delimiter), [])]


def amount_currency(header: str) -> str | None:
    """The currency an amount header ends in (amount_usd -> USD), if it does."""
    normal = normalise_header(header)
    for name in HEADER_NAMES["amount"]:
        if normal.startswith(name) and normal[len(name):] in CURRENCY_SUFFIXES:
            return normal[len(name):].upper()
    return None


def recognised_column(header: str) -> str | None:
    normal = normalise_header(header)
    found = next((canonical for canonical, names in HEADER_NAMES.items() if normal in names), None)
    return found or ("amount" if amount_currency(header) else None)


def file_layout(path: str, first_line: str, columns: Mapping[str, str]) -> FileLayout:
    """Delimiter and columns of a file from its first line and the named columns (see the module's doc)."""
    delimiter = sniff_delimiter(first_line)
    fields = split_line(first_line, delimiter)
    positional = {canonical: value for canonical, value in columns.items() if value.isdigit()}
    if positional and len(positional) < len(columns):
        raise ConfigurationError("--column: name every column by header or every column by position (a file "
                                 "without a header line), not both")
    if positional:
        positions = {canonical: int(value) - 1 for canonical, value in positional.items()}
        for canonical, position in positions.items():
            if not 0 <= position < len(fields):
                raise InputFileError(path, f"--column {canonical}={position + 1}: the line has {len(fields)} "
                                     "fields", line=1, value=first_line.strip()[:200])
        layout = FileLayout(delimiter, False, len(fields), positions,
                            {canonical: f"field {positions[canonical] + 1}" for canonical in CANONICAL_COLUMNS
                             if canonical in positions})
    else:
        layout = _header_layout(path, delimiter, fields, columns)
    missing = [canonical for canonical in REQUIRED_COLUMNS if canonical not in layout.positions]
    if missing:
        if not layout.has_header:
            raise ConfigurationError(f"a file without a header needs the position of {', '.join(missing)} "
                                     "too (--column NAME=N)")
        raise InputFileError(path, f"no column for {', '.join(missing)}: the header has "
                             f"{', '.join(map(repr, fields))}; name one with --column {missing[0]}=HEADER",
                             line=1)
    return layout


def _header_layout(path: str, delimiter: str, header: list[str], columns: Mapping[str, str]) -> FileLayout:
    positions: dict[str, int] = {}
    for canonical, name in columns.items():
        matches = [i for i, field in enumerate(header) if field == name] or \
                  [i for i, field in enumerate(header) if normalise_header(field) == normalise_header(name)]
        if len(matches) != 1:
            problem = "no column" if not matches else f"{len(matches)} columns"
            raise InputFileError(path, f"--column {canonical}={name}: the header has {problem} named so "
                                 f"(it has {', '.join(map(repr, header))})", line=1)
        positions[canonical] = matches[0]
    recognised: dict[str, list[int]] = {}
    for position, field in enumerate(header):
        canonical = recognised_column(field)
        if canonical and canonical not in positions and position not in positions.values():
            recognised.setdefault(canonical, []).append(position)
    for canonical, found in recognised.items():
        if len(found) > 1:
            raise InputFileError(path, f"columns {' and '.join(repr(header[i]) for i in found)} could each be "
                                 f"{canonical}: name the one to use with --column {canonical}=HEADER", line=1)
        positions[canonical] = found[0]
    for canonical, position in positions.items():
        if header.count(header[position]) > 1:
            raise InputFileError(path, f"the header names two columns {header[position]!r}", line=1,
                                 column=header[position])
    return FileLayout(delimiter, True, len(header), positions,
                      {canonical: header[positions[canonical]] for canonical in CANONICAL_COLUMNS
                       if canonical in positions})


# -- reading the file in chunks -----------------------------------------------------------------------------
def read_chunks(path: Path, layout: FileLayout, chunk_rows: int = CHUNK_ROWS) -> Iterator[pd.DataFrame]:
    """The file's orders as text, a chunk at a time: one column per field, indexed by line number.

    One more field than the layout's is read, so that a line with an extra field shows (pandas would
    otherwise drop it from the first line silently, and refuses it on the later ones)."""
    names = [f"field {number}" for number in range(1, layout.fields + 2)]
    reader = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", pd.errors.ParserWarning)
            reader = pd.read_csv(
                path, sep=r"\s+" if layout.delimiter == WHITESPACE else layout.delimiter, header=None,
                names=names, skiprows=1 if layout.has_header else 0, dtype=str, na_filter=False,
                skip_blank_lines=False, index_col=False, encoding="utf-8-sig", chunksize=chunk_rows, engine="c")
            for chunk in reader:
                chunk.index = chunk.index + layout.first_data_line
                chunk = chunk[chunk.ne("").any(axis=1)]  # blank lines
                extra = chunk[names[-1]].ne("")
                if extra.any():
                    line = int(extra.idxmax())
                    raise _extra_field(path, layout, line, chunk.at[line, names[-1]])
                yield chunk
    except pd.errors.ParserError as error:
        found = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(error))
        if found is None:
            raise InputFileError(str(path), f"cannot be read as {_delimiter_name(layout.delimiter)}-separated "
                                 f"text: {error}") from error
        line = int(found.group(2))
        raise _extra_field(path, layout, line, _field(path, layout, line, layout.fields + 1)) from error
    except UnicodeDecodeError as error:
        line = _first_undecodable_line(path)
        raise InputFileError(str(path), "not UTF-8 text (convert it, e.g. iconv -f latin1 -t utf-8)",
                             line=line) from error
    finally:
        if reader is not None:
            reader.close()


def _extra_field(path: Path, layout: FileLayout, line: int, value: str) -> InputFileError:
    what = "the header has" if layout.has_header else "the first line has"
    return InputFileError(str(path), f"expected {layout.fields} fields ({what} {layout.fields}), found more",
                          line=line, column=f"field {layout.fields + 1}", value=value)


def _field(path: Path, layout: FileLayout, line: int, number: int) -> str | None:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        for current, text in enumerate(handle, start=1):
            if current == line:
                fields = split_line(text, layout.delimiter)
                return fields[number - 1] if len(fields) >= number else None
    return None


def _first_undecodable_line(path: Path) -> int | None:
    with path.open("rb") as handle:
        for line, raw in enumerate(handle, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                return line
    return None


def _delimiter_name(delimiter: str) -> str:
    return {",": "comma", "\t": "tab", ";": "semicolon"}.get(delimiter, delimiter)


# -- dates --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DateFormat:
    """The one date format of a file's ordered_at column, and how it was decided."""

    name: str
    day_first: bool | None = None  # DD/MM/YYYY or MM/DD/YYYY only
    decided_by: str = ""

    def to_timestamps(self, text: pd.Series) -> tuple[pd.Series, pd.Series]:
        """Timestamps as PostgreSQL reads them (ISO 8601, the offset kept), and which values are not dates
        of this format."""
        if self.day_first is None:
            shape, parse = (ISO_DATE, "ISO8601") if self.name.startswith("YYYY-") else (COMPACT_DATE, "%Y%m%d")
            converted = text
        else:
            padded = text.str.replace(r"\b(\d)\b", r"0\1", regex=True)
            shape, parse = NUMERIC_DATE, "ISO8601"
            converted = padded.str.replace(r"^(\d\d)[/.-](\d\d)[/.-](\d{4})",
                                           r"\3-\2-\1" if self.day_first else r"\3-\1-\2", regex=True)
            text = padded
        fits = text.str.fullmatch(shape).fillna(False).astype(bool)
        parsed = pd.to_datetime(converted.where(fits, ""), format=parse, utc=True, errors="coerce")
        return converted, ~fits | parsed.isna()


def date_format_of(first: str, path: str, line: int, label: str, date_order: DateOrder | None,
                   dates: Callable[[], Iterator[pd.Series]]) -> DateFormat:
    """The file's date format, from its first date; DD/MM against MM/DD from `date_order` or else the first
    date with a day above 12 (`dates` reads the column's values from the start, indexed by line)."""
    if re.fullmatch(ISO_DATE, first):
        return DateFormat("YYYY-MM-DD")
    if re.fullmatch(COMPACT_DATE, first):
        return DateFormat("YYYYMMDD")
    if not re.fullmatch(NUMERIC_DATE, re.sub(r"\b(\d)\b", r"0\1", first)):
        raise InputFileError(path, f"expected a date: {DATE_FORMATS}", line=line, column=label, value=first)
    if date_order is not None:
        return _numeric_format(date_order == "day-first", f"--date-order {date_order}")
    for values in dates():
        padded = values.str.replace(r"\b(\d)\b", r"0\1", regex=True)
        numeric = padded.str.fullmatch(NUMERIC_DATE).fillna(False).astype(bool)
        first_part = pd.to_numeric(padded.str.slice(0, 2).where(numeric, "0"), errors="coerce")
        second_part = pd.to_numeric(padded.str.slice(3, 5).where(numeric, "0"), errors="coerce")
        deciding = (first_part > 12) | (second_part > 12)
        if deciding.any():
            at = deciding.idxmax()
            return _numeric_format(bool(first_part[at] > 12), f"line {at}, {values[at]!r}")
    raise InputFileError(path, "cannot tell day-first from month-first dates: no date in the file has a day "
                         "above 12; say which with --date-order day-first or --date-order month-first",
                         line=line, column=label, value=first)


def _numeric_format(day_first: bool, decided_by: str) -> DateFormat:
    return DateFormat("DD/MM/YYYY" if day_first else "MM/DD/YYYY", day_first, decided_by)


# -- checking and converting one chunk ----------------------------------------------------------------------
def _whole_numbers(text: pd.Series, problems: list[Problem], label: str, what: str, sql_type: str, *,
                   required: bool, hint: str = "") -> pd.Series:
    """Whole numbers as COPY text (12.0 as 12; empty as NULL when not required)."""
    empty = text.eq("")
    if required:
        problems.append(Problem(empty, text, label, f"{what}; the field is empty"))
    values, not_whole, out_of_range = whole_numbers(text, sql_type)
    problems.append(Problem(not_whole & ~empty, text, label, f"{what}: {WHOLE_NUMBER}{hint}"))
    problems.append(Problem(out_of_range, text, label, f"{what}: {integer_range(sql_type)}"))
    return values.astype(str).where(~empty, NULL)


def _amounts(text: pd.Series, problems: list[Problem], label: str) -> pd.Series:
    empty = text.eq("")
    problems.append(Problem(empty, text, label, "an amount; the field is empty"))
    values, not_decimal, out_of_range = decimals(text, 18, 4)
    problems.append(Problem(not_decimal & ~empty, text, label, f"an amount: {DECIMAL_NUMBER}, negative for a "
                            "refund"))
    problems.append(Problem(out_of_range, text, label, f"an amount: {decimal_range(18, 4)}"))
    return values


def _copy_text(text: pd.Series) -> pd.Series:
    """A text column as COPY text: backslashes and line breaks escaped; empty as NULL."""
    if not text.str.contains(r"[\\\t\n\r]").any():
        return text.where(text.ne(""), NULL)
    escaped = (text.str.replace("\\", "\\\\", regex=False).str.replace("\t", "\\t", regex=False)
               .str.replace("\n", "\\n", regex=False).str.replace("\r", "\\r", regex=False))
    return escaped.where(text.ne(""), NULL)


def convert_chunk(chunk: pd.DataFrame, layout: FileLayout, dates: DateFormat, path: str) -> list[pd.Series]:
    """The chunk's orders as COPY text columns, in copy_columns' order; raises on the first bad line."""
    problems: list[Problem] = []
    out: list[pd.Series] = []
    for canonical in copy_columns(layout)[:-1]:  # load_id is the caller's
        label = layout.labels[canonical]
        text = chunk[f"field {layout.positions[canonical] + 1}"].str.strip()
        if canonical == "customer_id":
            out.append(_whole_numbers(text, problems, label, "a customer id", "bigint", required=True,
                                      hint=" (customer ids must be integers: map text ids to numbers first)"))
        elif canonical == "quantity":
            out.append(_whole_numbers(text, problems, label, "a quantity", "integer", required=False))
        elif canonical == "amount":
            out.append(_amounts(text, problems, label))
        elif canonical == "ordered_at":
            problems.append(Problem(text.eq(""), text, label, "a date; the field is empty"))
            timestamps, bad = dates.to_timestamps(text)
            decided = f", as decided by {dates.decided_by}" if dates.decided_by else ""
            problems.append(Problem(bad & text.ne(""), text, label,
                                    f"a date in the file's format, {dates.name}{decided}"))
            out.append(timestamps)
        else:
            out.append(_copy_text(text))
    refuse_earliest(problems, path)
    return out


def copy_columns(layout: FileLayout) -> list[str]:
    return [column for column in CANONICAL_COLUMNS if column in layout.positions] + ["load_id"]


# -- the load -----------------------------------------------------------------------------------------------
def load_orders_file(engine: Engine, path: Path, *, columns: Mapping[str, str] | None = None,
                     currency: str | None = None, timezone: str = "UTC", date_order: DateOrder | None = None,
                     progress: Callable[[int, float], None] | None = None) -> OrdersLoadResult:
    """Replace the orders of earlier files in source.orders with those of `path` (see the module's doc)."""
    started = time.perf_counter()
    name = str(path)
    check_timezone(timezone)
    if not path.is_file():
        raise InputFileError(name, "no such file")
    try:
        with path.open("rb") as handle:
            first_line = handle.readline().decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise InputFileError(name, "not UTF-8 text (convert it, e.g. iconv -f latin1 -t utf-8)", line=1) from error
    if not first_line.strip():
        raise InputFileError(name, "the first line is empty: expected a header or an order", line=1)
    layout = file_layout(name, first_line, columns or {})
    resolved_currency = (currency or amount_currency(layout.labels["amount"]) or DEFAULT_CURRENCY).upper()
    if not re.fullmatch(r"[A-Z]{3}", resolved_currency):
        raise ConfigurationError(f"currency {currency!r} is not an ISO 4217 code (three letters, e.g. EUR)")
    sha256 = file_sha256(path)
    date_column = f"field {layout.positions['ordered_at'] + 1}"

    with engine.begin() as connection:
        run_sql_file(connection, "load/lock_order_loads.sql")
        run_sql_file(connection, "load/set_business_timezone.sql", {"timezone": timezone})
        run_sql_file(connection, "load/clear_file_orders.sql")
        load_id = run_sql_file(connection, "load/start_orders_load.sql", {
            "file_name": path.name, "file_sha256": sha256, "delimiter": layout.delimiter,
            "columns": json.dumps(layout.labels), "currency": resolved_currency}).scalar_one()
        target = copy_columns(layout)
        statement = sql_file("load/copy_orders.sql", columns=pgsql.SQL(", ").join(map(pgsql.Identifier, target)))
        rows, dates = 0, None
        try:
            with driver_connection(connection).cursor() as cursor, cursor.copy(statement) as copy:
                for chunk in read_chunks(path, layout):
                    if chunk.empty:
                        continue
                    if dates is None:
                        dates = _first_date_format(chunk, path, layout, date_order, date_column)
                    values = convert_chunk(chunk, layout, dates, name)
                    lines = values[0]
                    for column in values[1:]:
                        lines = lines + "\t" + column
                    line_end = f"\t{load_id}\n"
                    copy.write(line_end.join(lines.tolist()) + line_end)
                    rows += len(chunk)
                    if progress:
                        progress(rows, time.perf_counter() - started)
        except psycopg.errors.DataError as error:  # not expected after the checks above; said plainly if so
            raise InputFileError(name, f"PostgreSQL refused a value: {error.diag.message_primary}") from error
        if rows == 0:
            raise InputFileError(name, "the file has no orders", line=layout.first_data_line)
        run_sql_file(connection, "load/finish_orders_load.sql", {"load_id": load_id, "row_count": rows})
    vacuum_after_load(engine, "source.orders")
    return OrdersLoadResult(load_id, rows, layout.delimiter, layout.labels, dates.name if dates else "", timezone,
                            resolved_currency, time.perf_counter() - started)


def _first_date_format(chunk: pd.DataFrame, path: Path, layout: FileLayout, date_order: DateOrder | None,
                       date_column: str) -> DateFormat:
    text = chunk[date_column].str.strip()
    present = text[text.ne("")]
    if present.empty:  # the chunk's orders have no date: the checks name the first
        return DateFormat("YYYY-MM-DD")

    def dates() -> Iterator[pd.Series]:
        for later in read_chunks(path, layout):
            yield later[date_column].str.strip()

    return date_format_of(present.iloc[0], str(path), int(present.index[0]), layout.labels["ordered_at"],
                          date_order, dates)
