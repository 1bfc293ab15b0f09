"""Strict reading of a delimited text export (comma, tab or semicolon separated), for the loaders.

A file is split into records by the csv module, one physical line at a time, before any value is typed, so
that it is refused at the line where it goes wrong, numbered as in the file (the header is line 1): bytes
that are not UTF-8, a NUL character, a byte order mark anywhere but at the very start, an unclosed quote,
a line with more or fewer fields than the header, a value longer than any column takes. Values are then
typed a chunk of records at a time, by the parsers below (vectorised on Arrow-backed strings), each with
the bounds of the PostgreSQL type it is copied into: nothing reaches COPY that PostgreSQL would refuse or
store otherwise than written.
"""

from __future__ import annotations

import csv
import gc
import hashlib
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv

from tasks.errors import InputFileError

DELIMITERS = {",": "comma", "\t": "tab", ";": "semicolon"}
MAX_FIELD_CHARS = 1_000  # longer than any label; a longer value is not customer data
UTF8_BOM = b"\xef\xbb\xbf"
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
# A character no value may hold: NUL (PostgreSQL text cannot), a byte order mark (U+FEFF: two files joined,
# or a BOM written per line), or a byte that is not UTF-8 (decoded as a lone surrogate, see _Lines).
_UNWANTED_CHARACTER = re.compile("[\x00\ufeff\udc80-\udcff]")

INTEGER_RANGES = {"smallint": (-(2**15), 2**15 - 1), "integer": (-(2**31), 2**31 - 1),
                  "bigint": (-(2**63), 2**63 - 1)}
_WHOLE_NUMBER = r"[-+]?[0-9]+(?:\.0*)?"  # digits, maybe "58.0" as exports of a float column write it
_DECIMAL = r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"  # no exponent, no thousands separator


@dataclass(frozen=True)
class RecordChunk:
    """Consecutive records of a file: each header column's values as strings, indexed by the line each record
    starts on."""

    columns: list[pd.Series]

    @classmethod
    def of(cls, lines: list[int], records: list[list[str]]) -> RecordChunk:
        index = pd.Index(np.array(lines, dtype=np.int64))
        return cls([pd.Series(pd.array(pa.array(values, type=pa.string()), dtype="str"), index=index)
                    for values in zip(*records)])

    @classmethod
    def parsed(cls, text: bytes, lines: list[int], delimiter: str, width: int) -> RecordChunk | None:
        """The same records parsed again from their bytes by Arrow's CSV reader, once csv.reader has checked
        them: the columns go straight into Arrow, where building them from csv.reader's lists cost as much as
        reading the file. None unless Arrow reads exactly those records (the caller then uses the lists)."""
        names = [f"f{position}" for position in range(width)]
        try:
            table = pa_csv.read_csv(
                io.BytesIO(text), read_options=pa_csv.ReadOptions(column_names=names),
                parse_options=pa_csv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
                convert_options=pa_csv.ConvertOptions(column_types=dict.fromkeys(names, pa.string()),
                                                      strings_can_be_null=False, quoted_strings_can_be_null=False))
        except pa.ArrowException:
            return None
        if table.num_rows != len(lines):
            return None
        index = pd.Index(np.array(lines, dtype=np.int64))
        return cls([pd.Series(pd.array(column, dtype="str"), index=index) for column in table.columns])

    def __len__(self) -> int:
        return len(self.columns[0]) if self.columns else 0

    @property
    def lines(self) -> pd.Index:
        return self.columns[0].index

    def column(self, position: int) -> pd.Series:
        return self.columns[position]

    def head(self, rows: int) -> RecordChunk:
        return RecordChunk([column.iloc[:rows] for column in self.columns])


def readable(value: str) -> str:
    """A value as a message shows it: bytes that are not UTF-8 as \\x escapes."""
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sniff_delimiter(header_line: str, path: str) -> str:
    counts = {delimiter: header_line.count(delimiter) for delimiter in DELIMITERS}
    delimiter, count = max(counts.items(), key=lambda item: item[1])
    if count == 0:
        raise InputFileError(path, "cannot tell the delimiter: the header has no comma, tab or semicolon",
                             line=1, value=readable(header_line.rstrip("\r\n")))
    return delimiter


class _Lines:
    """The file's physical lines, decoded, for csv.reader. A line holding a character no value may hold is
    remembered (the first one), so that the record it ends up in is refused, naming that line and field."""

    def __init__(self, handle: BinaryIO) -> None:
        self.handle = handle
        self.number = 0
        self.suspect: int | None = None
        self.long = False  # a line longer than any value may be: its values must be measured
        self.read: list[bytes] = []  # the lines read since the last take()

    def __iter__(self) -> Iterator[str]:
        for raw in self.handle:
            self.number += 1
            if self.number == 1 and raw.startswith(UTF8_BOM):
                raw = raw[len(UTF8_BOM):]
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                text = raw.decode("utf-8", "surrogateescape")
                self.suspect = self.suspect or self.number
            if b"\x00" in raw or UTF8_BOM in raw:
                self.suspect = self.suspect or self.number
            if len(raw) > MAX_FIELD_CHARS:
                self.long = True
            self.read.append(raw)
            yield text

    def take(self) -> bytes:
        """The bytes of the lines read since the last call (csv.reader reads no further than its record)."""
        taken, self.read = b"".join(self.read), []
        return taken


class DelimitedFile:
    """A delimited UTF-8 text file with a header line, read strictly (see the module's docstring)."""

    def __init__(self, path: Path) -> None:
        self.path, self.name = path, str(path)
        try:
            if not path.is_file():
                raise InputFileError(self.name, "no such file")
            with path.open("rb") as handle:
                first = handle.readline()
        except OSError as error:  # unreadable, or a name the system refuses
            raise InputFileError(self.name[:200], f"cannot be read: {error.strerror or error}") from error
        if first.startswith(UTF16_BOMS):
            raise InputFileError(self.name, "the file is UTF-16 text: save it as UTF-8", line=1)
        header_line = first.removeprefix(UTF8_BOM).decode("utf-8", "surrogateescape")
        if not header_line.strip():
            raise InputFileError(self.name, "the file is empty" if not header_line else "the header line is empty",
                                 line=1)
        self.delimiter = sniff_delimiter(header_line, self.name)
        header = next(self._records(chunk_rows=1, header=None))
        self.header = [column.iloc[0] for column in header.columns]

    def records(self, chunk_rows: int) -> Iterator[RecordChunk]:
        """The data records (blank lines skipped) in chunks of at most chunk_rows. A line that cannot be a
        record ends the chunk before it and is refused once the records before it have been taken (and typed,
        by the caller): the file is always refused at its first bad line."""
        return self._records(chunk_rows, header=self.header)

    def _records(self, chunk_rows: int, header: list[str] | None) -> Iterator[RecordChunk]:
        with self.path.open("rb") as handle:
            lines = _Lines(handle)
            reader = csv.reader(lines, delimiter=self.delimiter, strict=True)
            width = None if header is None else len(header)
            if header is None:
                chunk_rows = 1  # the header: a chunk of its own
            else:
                next(reader)  # the header, checked when the file was opened
                lines.take()
            pending: InputFileError | None = None
            ended = False
            while pending is None and not ended:
                starts: list[int] = []
                records: list[list[str]] = []
                # Millions of small lists: the cyclic collector would rescan them all every few thousand.
                collecting = gc.isenabled()
                gc.disable()
                try:
                    while len(records) < chunk_rows:
                        start = reader.line_num + 1
                        try:
                            fields = next(reader)
                            if lines.suspect is not None:
                                self._refuse_character(fields, lines.suspect, header)
                            if not fields:
                                continue  # a blank line
                            if width is not None and len(fields) != width:
                                self._refuse_field_count(fields, start, header or [])
                        except StopIteration:
                            ended = True
                            break
                        except csv.Error as error:
                            pending = self._unreadable(error, start, lines.number)
                            break
                        except InputFileError as error:
                            pending = error
                            break
                        starts.append(start)
                        records.append(fields)
                        if reader.line_num != start:
                            lines.long = True  # a value across lines may be longer than any of them
                finally:
                    if collecting:
                        gc.enable()
                chunk = None
                if pending is None and width is not None and starts:
                    chunk = RecordChunk.parsed(lines.take(), starts, self.delimiter, width)
                if chunk is None:
                    chunk = RecordChunk.of(starts, records)
                del records
                long_value = self._long_value(chunk, header) if lines.long else None
                lines.long = False
                if long_value is not None:
                    row, pending = long_value
                    chunk = chunk.head(row)
                if len(chunk):
                    yield chunk
            if pending is not None:
                raise pending

    def _unreadable(self, error: csv.Error, start: int, last: int) -> InputFileError:
        text = str(error)
        if "unexpected end of data" in text:
            message = (f"a quoted value that starts here is never closed (it runs to the end of the file, line "
                       f"{last}): expected a closing double quote")
        elif "field larger than field limit" in text:
            message = f"a value longer than {csv.field_size_limit():,} characters: expected at most " \
                      f"{MAX_FIELD_CHARS:,}"
        elif "expected after" in text:
            message = ("a double quote inside a quoted value: expected the value to end at the quote, or the quote "
                       "doubled (\"\")")
        elif "new-line character" in text:
            message = "a carriage return inside an unquoted value: expected lines that end in LF or CRLF"
        else:
            message = f"cannot be read as {DELIMITERS[self.delimiter]}-separated values ({text})"
        return InputFileError(self.name, message, line=start)

    def _refuse_character(self, fields: list[str], line: int, header: list[str] | None) -> None:
        for position, value in enumerate(fields):
            found = _UNWANTED_CHARACTER.search(value)
            if found is None:
                continue
            character = found.group()
            if character == "\x00":
                problem = "a NUL character: expected text (is the file UTF-16 or binary? save it as UTF-8 text)"
            elif character == "\ufeff":
                problem = ("a byte order mark (U+FEFF) inside the file: only its very first bytes may be one (are "
                           "two files joined?)")
            else:
                problem = (f"byte {readable(character)} is not UTF-8: expected UTF-8 text (the file may be Latin-1 "
                           "or Windows-1252: save it as UTF-8)")
            column = _column_name(header, position) if header is not None else None
            raise InputFileError(self.name, problem, line=line, column=column, value=readable(value))
        raise InputFileError(self.name, "a character that is not text", line=line)

    def _refuse_field_count(self, fields: list[str], line: int, header: list[str]) -> None:
        name = DELIMITERS[self.delimiter]
        if len(fields) > len(header):
            extra = self.delimiter.join(fields[len(header):])
            raise InputFileError(
                self.name, f"{len(fields)} fields where the header has {len(header)}: expected one value per column "
                f"(a value holding a {name} must be quoted; the extra values follow)", line=line, value=extra)
        raise InputFileError(
            self.name, f"{len(fields)} field(s) where the header has {len(header)}: expected one value per column "
            f"({name}-separated, like the header; this is the first column without one)", line=line,
            column=header[len(fields)])

    def _long_value(self, chunk: RecordChunk, header: list[str] | None) -> tuple[int, InputFileError] | None:
        """The chunk's first record with a value longer than any column takes, and its refusal."""
        first: tuple[int, int, int] | None = None  # row, position, length
        for position, column in enumerate(chunk.columns):
            lengths = column.str.len().to_numpy()
            too_long = lengths > MAX_FIELD_CHARS
            if too_long.any():
                row = int(np.argmax(too_long))
                if first is None or row < first[0]:
                    first = (row, position, int(lengths[row]))
        if first is None:
            return None
        row, position, length = first
        return row, InputFileError(
            self.name, f"a value of {length:,} characters: expected at most {MAX_FIELD_CHARS:,}",
            line=int(chunk.lines[row]), column=_column_name(header, position) if header is not None else None,
            value=chunk.column(position).iloc[row])


def _column_name(header: list[str], position: int) -> str:
    return header[position] if position < len(header) else f"#{position + 1} (beyond the header)"


# -- typed values: each parser returns the values and a mask of the texts that are not of the type ----------
@dataclass(frozen=True)
class Problem:
    """The values of one column of a chunk (indexed by line) that are not what it expects."""

    bad: pd.Series
    text: pd.Series
    column: str
    expected: str


def refuse_earliest(problems: list[Problem], path: str) -> None:
    """Refuse the chunk's earliest bad value (on one line, the first problem listed)."""
    first: tuple[int, int, Problem] | None = None  # line, row, problem
    for problem in problems:
        bad = problem.bad.to_numpy(dtype=bool)
        if bad.any():
            row = int(np.argmax(bad))
            line = int(problem.text.index[row])
            if first is None or line < first[0]:
                first = (line, row, problem)
    if first is not None:
        line, row, problem = first
        raise InputFileError(path, f"expected {problem.expected}", line=line, column=problem.column,
                             value=problem.text.iloc[row])


def whole_numbers(text: pd.Series, sql_type: str) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Stripped texts as int64, the mask of those not written as a whole number, and the mask of those out of
    sql_type's range (compared as digits: a number is never rounded through a float to be checked)."""
    low, high = INTEGER_RANGES[sql_type]
    limit = len(str(high))
    nothing = pd.Series(False, index=text.index)
    if text.str.fullmatch(f"[0-9]{{1,{limit - 1}}}").all():  # the usual file: short plain digits, in range
        return text.astype("int64"), nothing, nothing
    written = text.str.fullmatch(_WHOLE_NUMBER).fillna(False).astype(bool)
    digits = text.str.replace(r"^[-+]?0*|\.0*$", "", regex=True)
    width = digits.str.len()
    negative = text.str.startswith("-").fillna(False).astype(bool)
    short = width < limit
    fits = short | ((width == limit) & (digits <= str(high)))
    fits_negative = short | ((width == limit) & (digits <= str(-low)))
    in_range = fits.where(~negative, fits_negative).fillna(False).astype(bool)
    valid = written & in_range
    values = text.str.replace(r"^\+|\.0*$", "", regex=True).where(valid, "0").astype("int64")
    return values, ~written, written & ~in_range


def decimals(text: pd.Series, precision: int, scale: int) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Stripped texts as they are (PostgreSQL's numeric reads them exactly, rounding to `scale` places), the
    mask of those not written as a plain decimal number, and the mask of those numeric(precision, scale)
    cannot hold."""
    written = text.str.fullmatch(_DECIMAL).fillna(False).astype(bool)
    room = precision - scale
    if written.all() and text.str.len().max() <= room:  # the usual file: short numbers, in range
        nothing = pd.Series(False, index=text.index)
        return text, nothing, nothing
    integer_digits = text.str.replace(r"^[-+]?0*|\..*$", "", regex=True).str.len()
    in_range = (integer_digits <= room).fillna(False).astype(bool)
    # Only a value with all its integer digits can round up out of range (9999999999999999.995).
    for line, value in text[written & (integer_digits == room)].items():
        if abs(round(Decimal(value), scale)) >= 10**room:
            in_range[line] = False
    return text, ~written, written & ~in_range


def _columns_at_once(texts: dict[str, pd.Series], usual: str, parse, *arguments: object
                     ) -> dict[str, tuple[pd.Series, pd.Series, pd.Series, pd.Series]]:
    """parse(stripped text, *arguments) of several columns: (values, not written so, out of range, stripped
    text) each. When every value matches `usual` (valid, and in range whatever it is), the columns are taken
    in one vectorised pass; else each is parsed."""
    index = next(iter(texts.values())).index
    rows = len(index)
    block = pd.concat(list(texts.values()), ignore_index=True).str.strip()
    if rows and block.str.fullmatch(usual).all():
        values = parse(block, *arguments)[0]
        nothing = pd.Series(False, index=index)
        return {name: (values.iloc[position * rows:(position + 1) * rows].set_axis(index), nothing, nothing, text)
                for position, (name, text) in enumerate(texts.items())}
    stripped = {name: text.str.strip() for name, text in texts.items()}
    return {name: (*parse(text, *arguments), text) for name, text in stripped.items()}


def whole_number_columns(texts: dict[str, pd.Series], sql_type: str
                         ) -> dict[str, tuple[pd.Series, pd.Series, pd.Series, pd.Series]]:
    """whole_numbers of several columns of one type (texts as read)."""
    digits = len(str(INTEGER_RANGES[sql_type][1])) - 1  # fewer digits than the type's bound: in range
    return _columns_at_once(texts, f"[0-9]{{1,{digits}}}", whole_numbers, sql_type)


def decimal_columns(texts: dict[str, pd.Series], precision: int, scale: int
                    ) -> dict[str, tuple[pd.Series, pd.Series, pd.Series, pd.Series]]:
    """decimals of several columns of one type (texts as read)."""
    room = precision - scale
    return _columns_at_once(texts, f"(?:[0-9]{{1,{room - 1}}}(?:\\.[0-9]{{0,{scale}}})?)", decimals, precision,
                            scale)


WHOLE_NUMBER = "a whole number"
DECIMAL_NUMBER = "a number (digits, maybe a decimal point: no exponent or thousands separator)"


def integer_range(sql_type: str) -> str:
    low, high = INTEGER_RANGES[sql_type]
    return f"a whole number from {low:,} to {high:,} (the column is {sql_type})"


def decimal_range(precision: int, scale: int) -> str:
    return (f"a number of at most {precision - scale} digits before the decimal point (the column is "
            f"numeric({precision}, {scale}))")
