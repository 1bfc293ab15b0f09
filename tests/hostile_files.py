"""A corpus of hostile variants of the bundled sample, for the loader's fuzz test (tests/test_load_fuzz.py).

Each variant is the sample's first rows with one thing changed, and what `segments load` must do with it:
refuse it at a given line (the header is line 1), naming the column where one is to blame, or load it with
a given value stored as written. The categories are those of issue 32: field counts, ids and counts that are
not exact integers of their column's type, amounts out of range, thousands separators, dates, stray byte
order marks, bytes that are not UTF-8, NUL, quotes, huge values, truncation, delimiters, line ends, and
text that looks like a formula, SQL or HTML (valid data: it must load unchanged).

`python -m tests.hostile_files` prints how many variants each category holds.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROWS = 40  # data rows of the sample each variant starts from: lines 2 to 41
LAST = ROWS + 1
POSITIONS = (2, 19, LAST)  # first, middle and last data line


@dataclass(frozen=True)
class Refused:
    line: int
    column: str | None = None
    says: str = ""  # a fragment the message must hold


@dataclass(frozen=True)
class Loads:
    rows: int = ROWS
    customer_id: int | None = None  # the row whose stored value is checked
    column: str | None = None  # its column in source.customers
    value: str | None = None  # as PostgreSQL's text output writes it


@dataclass(frozen=True)
class Variant:
    category: str
    name: str
    data: bytes
    expect: Refused | Loads


def quoted(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


class Sample:
    """The sample's header and first rows, as text fields, and ways to write them back changed."""

    def __init__(self, path: Path, rows: int = ROWS) -> None:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
        self.header = lines[0].split(",")
        self.rows = [line.split(",") for line in lines[1:rows + 1]]

    def position(self, header: str) -> int:
        return self.header.index(header)

    def id_at(self, line: int) -> int:
        return int(self.rows[line - 2][self.position("ID")])

    def lines(self, changes: dict[tuple[int, str], str] | None = None) -> list[str]:
        """Every line as text (header first), with the fields (line, header) -> raw text changed."""
        rows = [list(row) for row in self.rows]
        for (line, header), text in (changes or {}).items():
            rows[line - 2][self.position(header)] = text
        return [",".join(self.header)] + [",".join(row) for row in rows]

    def text(self, changes: dict[tuple[int, str], str] | None = None, newline: str = "\r\n") -> str:
        return newline.join(self.lines(changes)) + newline

    def data(self, changes: dict[tuple[int, str], str] | None = None) -> bytes:
        return self.text(changes).encode()

    def with_line(self, line: int, text: str) -> bytes:
        lines = self.lines()
        lines[line - 1] = text
        return ("\r\n".join(lines) + "\r\n").encode()

    def with_bytes(self, line: int, header: str, raw: bytes, prefix: bytes = b"") -> bytes:
        """The sample with `raw` appended to a field (before the sample's own value), as bytes."""
        marker = "\x01MARK\x01"
        data = self.data({(line, header): marker + self.rows[line - 2][self.position(header)]})
        return data.replace(marker.encode(), prefix + raw)


def corpus(sample_path: Path) -> list[Variant]:
    sample = Sample(sample_path)
    variants: list[Variant] = []

    def refused(category: str, name: str, data: bytes, line: int, column: str | None = None, says: str = "") -> None:
        variants.append(Variant(category, name, data, Refused(line, column, says)))

    def loads(category: str, name: str, data: bytes, **expect: object) -> None:
        variants.append(Variant(category, name, data, Loads(**expect)))  # type: ignore[arg-type]

    # Integers: only digits (a "58.0" as exports of float columns write it) of the column's type's range.
    not_whole = ["1e308", "1e3", "12.5", quoted("1,000"), "thirty", "", " ", "inf", "-inf", "NaN", "0x1F",
                 "\u0661\u0662", "\uff11\uff12", "1_000", "--1", "+-1", "1 000", "5-"]
    integer_columns = ["ID", "Year_Birth", "Kidhome", "NumWebVisitsMonth", "Complain", "Recency"]
    for index, (column, value) in enumerate((c, v) for c in integer_columns for v in not_whole):
        line = POSITIONS[index % len(POSITIONS)]
        refused("integer", f"{column}={value!r}@{line}", sample.data({(line, column): value}), line, column,
                "expected a whole number")
    out_of_range = [("ID", v) for v in ("99999999999999999999", "9223372036854775808", "-9223372036854775809",
                                        "1" * 40, "9" * 60)]
    out_of_range += [(c, v) for c in ("Year_Birth", "Kidhome", "NumWebVisitsMonth")
                     for v in ("2147483648", "-2147483649", "99999999999", "9" * 60)]
    out_of_range += [(c, v) for c in ("Complain", "AcceptedCmp1", "Response") for v in ("32768", "-32769", "99999",
                                                                                          "9" * 60)]
    for index, (column, value) in enumerate(out_of_range):
        line = POSITIONS[index % len(POSITIONS)]
        refused("integer range", f"{column}={value[:20]}@{line}", sample.data({(line, column): value}), line,
                column, "expected a whole number from")
    customer = sample.id_at(19)
    for column, canonical, value, stored in [
            ("Complain", "complain", "32767", "32767"), ("Kidhome", "kids_home", "-1", "-1"),
            ("Year_Birth", "birth_year", "1957.0", "1957"), ("Recency", "recency_days", " 58 ", "58"),
            ("Recency", "recency_days", "+58", "58"), ("Recency", "recency_days", "0058", "58"),
            ("Kidhome", "kids_home", "2147483647", "2147483647")]:
        loads("integer valid", f"{column}={value!r}", sample.data({(19, column): value}), customer_id=customer,
              column=canonical, value=stored)
    for value in ("9223372036854775807", "-5"):
        loads("integer valid", f"ID={value}", sample.data({(19, "ID"): value}), customer_id=int(value),
              column="customer_id", value=value)

    # Amounts: plain decimal numbers of numeric(18, 2); only an income may be empty (unknown).
    not_number = ["1e5", quoted("1,000"), "NaN", "inf", "abc", "12.5.1", "$100", "1 000", "0x10", "\u0661"]
    for index, (column, value) in enumerate((c, v) for c in ("MntCoke", "MntGoldProds", "Income") for v in not_number):
        line = POSITIONS[index % len(POSITIONS)]
        refused("amount", f"{column}={value!r}@{line}", sample.data({(line, column): value}), line, column,
                "expected a number")
    refused("amount", "MntCoke=''", sample.data({(19, "MntCoke"): ""}), 19, "MntCoke", "expected a number")
    for index, (column, value) in enumerate((c, v) for c in ("MntFruits", "Income")
                                            for v in ("10000000000000000", "9" * 60, "9999999999999999.995",
                                                      "-10000000000000000")):
        line = POSITIONS[index % len(POSITIONS)]
        refused("amount range", f"{column}={value[:20]}@{line}", sample.data({(line, column): value}), line, column,
                "digits before the decimal point")
    for column, canonical, value, stored in [
            ("Income", "income", "", None), ("Income", "income", "9999999999999999.99", "9999999999999999.99"),
            ("Income", "income", "1234567890123456.78", "1234567890123456.78"),
            ("MntFruits", "spend_fruits", "0.005", "0.01"), ("MntFruits", "spend_fruits", ".5", "0.50"),
            ("MntFruits", "spend_fruits", "5.", "5.00"), ("MntFruits", "spend_fruits", "+7", "7.00"),
            ("MntFruits", "spend_fruits", "-3", "-3.00")]:
        loads("amount valid", f"{column}={value!r}", sample.data({(19, column): value}), customer_id=customer,
              column=canonical, value=stored)

    # Dates: the file's one format (the shape most dates have), and real days.
    for index, value in enumerate(["31-02-2012", "2012-09-04", "", "04-09-12", "garbage", "00-00-0000",
                                   "4-9-2012", "04-09-2012 00:00"]):
        for line in (2, 19) if index % 2 else (19, LAST):
            refused("date", f"Dt_Customer={value!r}@{line}", sample.data({(line, "Dt_Customer"): value}), line,
                    "Dt_Customer", "expected a date")
    refused("date", "ISO date in a day-first file names that line", sample.data({(19, "Dt_Customer"): "2013-08-21"}),
            19, "Dt_Customer", "neither all dd-mm-yyyy nor all yyyy-mm-dd")
    loads("date valid", "04/09/2012", sample.data({(19, "Dt_Customer"): "04/09/2012"}), customer_id=customer,
          column="enrolled_on", value="2012-09-04")

    # Labels: any text but an empty one, stored as written.
    for column in ("Education", "Marital_Status"):
        for value in ("", "   "):
            refused("label", f"{column}={value!r}", sample.data({(19, column): value}), 19, column, "expected a label")
    valid_text = ["=cmd|' /C calc'!A0", "+SUM(A1:A2)", "-2+3", "@SUM(1+1)*cmd|' /C calc'!A0",
                  '=HYPERLINK("http://evil.example/?x=1","click")', "'); DROP TABLE source.customers; --",
                  "1; DELETE FROM source.loads", "Robert'); DROP TABLE Students;--", "<script>alert(1)</script>",
                  "S1\nS2", "S1\r\nS2", "Sarjana \u2713 \u2013 \u5b66\u58eb", "\\N", "NULL", "\\.", "%s %(x)s {x} %%",
                  'say "hi"', "a;b\tc"]
    for index, value in enumerate(valid_text):
        column, canonical = ("Education", "education_raw") if index % 3 else ("Marital_Status", "marital_status_raw")
        loads("text valid", f"{column}={value!r}", sample.data({(19, column): quoted(value)}), customer_id=customer,
              column=canonical, value=value)
    loads("text valid", "a stray quote inside an unquoted value is text", sample.data({(19, "Education"): 'S"1'}),
          customer_id=customer, column="education_raw", value='S"1')

    # Field counts: exactly the header's.
    for line in POSITIONS:
        row = sample.lines()[line - 1]
        refused("field count", f"1 extra field@{line}", sample.with_line(line, row + ",7"), line, None,
                "31 fields where the header has 30")
        refused("field count", f"3 extra fields@{line}", sample.with_line(line, row + ",7,8,9"), line, None,
                "33 fields where the header has 30")
        refused("field count", f"1 missing field@{line}", sample.with_line(line, row.rsplit(",", 1)[0]), line,
                "Response", "29 field(s) where the header has 30")
        refused("field count", f"10 missing fields@{line}", sample.with_line(line, ",".join(row.split(",")[:20])),
                line, "NumWebVisitsMonth", "20 field(s) where the header has 30")
    header = ",".join(sample.header)
    refused("field count", "header with an extra column", sample.with_line(1, header + ",Extra"), 2, "Extra",
            "30 field(s) where the header has 31")
    refused("field count", "header without a column the rows have",
            sample.with_line(1, header.replace(",Z_Revenue", "")), 2, None, "30 fields where the header has 29")
    loads("field count valid", "blank lines are skipped", sample.data().replace(b"\r\n", b"\r\n\r\n", 5))

    # Encoding: UTF-8 only, one byte order mark at most, and only as the file's first bytes; no NUL.
    for line in POSITIONS:
        refused("encoding", f"Latin-1 byte in a label@{line}", sample.with_bytes(line, "Marital_Status", b"\xe9"),
                line, "Marital_Status", "not UTF-8")
    refused("encoding", "byte 0xff in an id", sample.with_bytes(19, "ID", b"\xff"), 19, "ID", "not UTF-8")
    refused("encoding", "overlong encoding", sample.with_bytes(19, "Education", b"\xc0\xaf"), 19, "Education",
            "not UTF-8")
    refused("encoding", "encoded surrogate", sample.with_bytes(19, "Education", b"\xed\xa0\x80"), 19, "Education",
            "not UTF-8")
    refused("encoding", "bad byte in the header", sample.data().replace(b"Income", b"Inc\xf6me", 1), 1, None,
            "not UTF-8")
    refused("encoding", "a Latin-1 file", sample.text({(23, "Education"): "Licenci\u00e9"}).encode("latin-1"), 23,
            "Education", "not UTF-8")
    refused("encoding", "a UTF-16 file", sample.text().encode("utf-16"), 1, None, "UTF-16")
    refused("encoding", "cut inside a character", sample.data({(LAST, "Response"): "1\u20ac"})[:-3] + b"\r\n",
            LAST, "Response", "not UTF-8")
    bom = b"\xef\xbb\xbf"
    loads("encoding valid", "one byte order mark at the start", bom + sample.data())
    refused("encoding", "two byte order marks", bom + bom + sample.data(), 1, None, "byte order mark")
    for line in (2, 19):
        refused("encoding", f"byte order mark at the start of line {line}", sample.with_bytes(line, "Number", bom), line,
                "Number", "byte order mark")
    refused("encoding", "byte order mark inside a label", sample.with_bytes(19, "Education", bom), 19, "Education",
            "byte order mark")
    for line in POSITIONS:
        refused("NUL", f"NUL in a label@{line}", sample.with_bytes(line, "Education", b"\x00"), line, "Education",
                "NUL")
    refused("NUL", "NUL in an id", sample.with_bytes(19, "ID", b"\x00"), 19, "ID", "NUL")
    refused("NUL", "NUL in the header", sample.data().replace(b"Income", b"In\x00come", 1), 1, None, "NUL")
    refused("NUL", "a line of NULs", sample.with_line(19, "\x00" * 40), 19, None, "NUL")

    # Quotes: RFC 4180, a quoted value ends at its closing quote.
    refused("quotes", "unclosed quote on the last line", sample.data({(LAST, "Education"): '"S1'}), LAST, None,
            "never closed")
    refused("quotes", "unclosed quote mid-file", sample.data({(19, "Education"): '"S1'}), 19, None, "never closed")
    refused("quotes", "text after a closing quote", sample.data({(19, "Education"): '"S1"x'}), 19, None,
            "double quote")
    loads("quotes valid", "every value quoted", "\r\n".join(
        ",".join(quoted(field) for field in line.split(",")) for line in sample.lines()).encode())
    multiline = {(5, "Education"): quoted("S1\nstill S1")}
    refused("quotes", "lines after a quoted line break count", sample.data({**multiline, (8, "Recency"): "x"}), 9,
            "Recency", "expected a whole number")
    refused("quotes", "a repeated id after a quoted line break", sample.data({**multiline,
                                                                             (9, "ID"): str(sample.id_at(12))}),
            10, "ID", "appears more than once (lines 10, 13)")

    # Huge values: refused before they reach the database.
    refused("huge", "1 MB label", sample.data({(19, "Education"): "x" * 1_048_576}), 19, None, "longer than")
    refused("huge", "1 MB in an ignored column", sample.data({(19, "Z_Revenue"): "7" * 1_048_576}), 19, None,
            "longer than")
    refused("huge", "2,000-character label", sample.data({(19, "Education"): "x" * 2000}), 19, "Education",
            "a value of 2,000 characters")
    refused("huge", "1,001 characters in an ignored column", sample.data({(LAST, "Number"): "1" * 1001}), LAST,
            "Number", "a value of 1,001 characters")

    # Truncation: a file cut inside a line is refused at that line; cut at a line's end, it is shorter.
    whole = sample.data()
    starts = [0]
    for _ in range(ROWS + 1):
        starts.append(whole.index(b"\r\n", starts[-1]) + 2)
    for line in (2, 3, 11, 19, 30, LAST):
        begin = starts[line - 1]
        for cut in (5, 40):
            refused("truncation", f"cut {cut} bytes into line {line}", whole[:begin + cut], line, None,
                    "field(s) where the header has 30")
    for rows in (1, 17):
        loads("truncation valid", f"cut after {rows} rows", whole[:starts[rows + 1]], rows=rows)
    refused("truncation", "cut inside the header", whole[:100], 1, None, "missing required column")
    with_quoted = sample.data({(LAST, "Education"): quoted("S1 and more")})
    refused("truncation", "cut inside a quoted label", with_quoted[:with_quoted.rindex(b'"S1') + 6], LAST, None,
            "never closed")

    # Delimiters: one per file, the header's.
    refused("delimiter", "pipe-separated", sample.text().replace(",", "|").encode(), 1, None,
            "cannot tell the delimiter")
    refused("delimiter", "one line semicolon-separated", sample.with_line(19, sample.lines()[18].replace(",", ";")),
            19, None, "1 field(s) where the header has 30")
    tabbed_header = sample.text().replace(",", "\t", 29).encode()
    refused("delimiter", "tab-separated header, comma-separated rows", tabbed_header, 2, None,
            "1 field(s) where the header has 30")
    loads("delimiter valid", "tab-separated", sample.text().replace(",", "\t").encode())
    loads("delimiter valid", "semicolon-separated", sample.text().replace(",", ";").encode())
    refused("delimiter", "decimal comma in a semicolon file",
            sample.text({(19, "Income"): "58138000,5"}).replace(",", ";").replace("58138000;5", "58138000,5").encode(),
            19, "Income", "expected a number")

    # Line ends: LF or CRLF, mixed or not; a bare CR only inside quotes.
    loads("line ends valid", "LF", sample.text(newline="\n").encode())
    loads("line ends valid", "CRLF and LF mixed", sample.data().replace(b"\r\n", b"\n", 7))
    refused("line ends", "CR-only line ends", sample.text(newline="\r").encode(), 1, None, "carriage return")
    refused("line ends", "a bare CR inside an unquoted value", sample.data({(19, "Education"): "S1\rS2"}), 19, None,
            "carriage return")

    # Repeated ids, empty files.
    refused("ids", "a repeated id", sample.data({(30, "ID"): str(sample.id_at(7))}), 7, "ID",
            "appears more than once (lines 7, 30)")
    refused("empty", "an empty file", b"", 1, None, "empty")
    refused("empty", "a byte order mark only", bom, 1, None, "empty")
    refused("empty", "blank lines only", b"\r\n\r\n", 1, None, "empty")
    refused("empty", "the header only", sample.lines()[0].encode() + b"\r\n", 2, None, "no customers")
    return variants


if __name__ == "__main__":
    from tasks.settings import SAMPLE_DATA

    variants = corpus(SAMPLE_DATA)
    counts = Counter(variant.category for variant in variants)
    for category, count in sorted(counts.items()):
        print(f"{category:20} {count}")  # noqa: T201
    print(f"{'total':20} {len(variants)} ({sum(isinstance(v.expect, Refused) for v in variants)} to refuse)")  # noqa: T201
