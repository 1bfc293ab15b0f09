"""Loading orders files: the CDNOW sample, headers under other names, dates of every common shape, and
files that must be refused whole, leaving the previous orders in place."""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from pydantic import ValidationError

from tasks.errors import ConfigurationError, InputFileError
from tasks.load.orders_file import CHUNK_ROWS, load_orders_file
from tasks.settings import PROJECT_ROOT, Settings
from tests.test_cli import segments

CDNOW_ORDERS = PROJECT_ROOT / "data" / "cdnow_orders.csv"
UTC = timezone.utc


def write(tmp_path: Path, text: str, name: str = "orders.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def scalar(engine, query: str):
    with engine.connect() as connection:
        return connection.scalar(sa.text(query))


def orders(engine, columns: str = "customer_id, ordered_at, amount, order_id, quantity") -> list[tuple]:
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(sa.text(
            f"SELECT {columns} FROM source.orders ORDER BY ordered_at, customer_id, amount"))]


def test_the_cdnow_sample_loads_every_order_of_its_2357_customers(clean_db):
    result = load_orders_file(clean_db, CDNOW_ORDERS)

    assert (result.rows, result.delimiter, result.date_format, result.currency) == (6919, ",", "YYYY-MM-DD", "USD")
    with clean_db.connect() as connection:
        totals = connection.execute(sa.text(
            "SELECT count(*), count(DISTINCT customer_id), min(customer_id), max(customer_id), sum(amount), "
            "sum(quantity), min(ordered_at), max(ordered_at), count(order_id) FROM source.orders")).one()
        load = connection.execute(sa.text("SELECT * FROM source.order_loads")).one()
    assert tuple(totals) == (6919, 2357, 1, 2357, Decimal("244091.94"), 16479, datetime(1997, 1, 1, tzinfo=UTC),
                             datetime(1998, 6, 30, tzinfo=UTC), 0)
    assert (load.load_id, load.file_name, load.row_count, load.currency) == (result.load_id, "cdnow_orders.csv",
                                                                            6919, "USD")
    assert load.file_sha256 == hashlib.sha256(CDNOW_ORDERS.read_bytes()).hexdigest()
    assert load.columns == {"customer_id": "customer_id", "ordered_at": "order_date", "amount": "amount",
                            "quantity": "quantity"}


def test_the_original_whitespace_separated_cdnow_lines_load_by_position(clean_db, tmp_path):
    original = tmp_path / "CDNOW_sample.txt"  # as the Lifetimes package ships it: CRLF, fixed width
    original.write_bytes(b" 00004 0001 19970101  2   29.33\r\n 00004 0001 19970118  2   29.73\r\n"
                         b"\r\n 00021 0002 19970101  3   63.34\r\n 00050 0003 19970102  1   -6.79")

    result = load_orders_file(clean_db, original, columns={"customer_id": "2", "ordered_at": "3", "quantity": "4",
                                                           "amount": "5"})

    assert (result.rows, result.delimiter, result.date_format) == (4, "whitespace", "YYYYMMDD")
    assert result.columns == {"customer_id": "field 2", "ordered_at": "field 3", "amount": "field 5",
                              "quantity": "field 4"}
    assert orders(clean_db, "customer_id, ordered_at, amount, quantity") == [
        (1, datetime(1997, 1, 1, tzinfo=UTC), Decimal("29.33"), 2),
        (2, datetime(1997, 1, 1, tzinfo=UTC), Decimal("63.34"), 3),
        (3, datetime(1997, 1, 2, tzinfo=UTC), Decimal("-6.79"), 1),
        (1, datetime(1997, 1, 18, tzinfo=UTC), Decimal("29.73"), 2),
    ]


# The same three orders (one a refund) as exports of different shops write them.
SAME_ORDERS = [
    (17850, datetime(2010, 12, 13, 8, 26, tzinfo=UTC), Decimal("-4.5"), "C536379", -1),
    (17850, datetime(2010, 12, 13, 8, 26, tzinfo=UTC), Decimal("15.3"), "536365", 6),
    (13047, datetime(2010, 12, 14, tzinfo=UTC), Decimal("100"), "536367", 12),
]


@pytest.mark.parametrize(("text", "delimiter", "date_format", "currency"), [
    ("InvoiceNo;CustomerID;InvoiceDate;Revenue;Quantity;Country\n"
     "536365;17850;13/12/2010 08:26;15.30;6;United Kingdom\n"
     "C536379;17850;13/12/2010 8:26;-4.5;-1;United Kingdom\n"
     "536367;13047;14/12/2010;100;12;France\n", ";", "DD/MM/YYYY", "USD"),
    ("user_id\tcreated_at\torder_total\torder_number\tqty\n"
     "17850\t2010-12-13T09:26:00+01:00\t15.3\t536365\t6\n"
     "17850\t2010-12-13 08:26Z\t-4.50\tC536379\t-1\n"
     "13047\t2010-12-14\t100.00\t536367\t12.0\n", "\t", "YYYY-MM-DD", "USD"),
    ("Customer ID,Order Date,Amount EUR,Order,Items\n"
     '17850,12/13/2010 8:26,15.3,536365,6\n'
     '17850,12/13/2010 8:26,-4.5,"C536379",-1\n'
     "13047,12/14/2010,100,536367,12\n", ",", "MM/DD/YYYY", "EUR"),
])
def test_headers_are_recognised_by_their_common_names(clean_db, tmp_path, text, delimiter, date_format, currency):
    result = load_orders_file(clean_db, write(tmp_path, text))

    assert (result.delimiter, result.date_format, result.currency) == (delimiter, date_format, currency)
    assert orders(clean_db) == SAME_ORDERS


def test_columns_can_be_named_whatever_their_headers(clean_db, tmp_path):
    path = write(tmp_path, "buyer,date,paid_on,paid,reference,shop\n"
                           "17850,2010-12-01,2010-12-13 08:26,15.30,536365,web\n"
                           "17850,2010-12-01,2010-12-13 08:26,-4.5,C536379,web\n"
                           "13047,2010-12-02,2010-12-14,100,536367,store\n")

    result = load_orders_file(clean_db, path, columns={
        "customer_id": "BUYER", "ordered_at": "paid_on", "amount": "paid", "order_id": "reference",
        "channel": "shop"})

    assert result.columns == {"customer_id": "buyer", "ordered_at": "paid_on", "amount": "paid",
                              "order_id": "reference", "channel": "shop"}
    assert orders(clean_db, "customer_id, ordered_at, amount, order_id") == [row[:4] for row in SAME_ORDERS]
    assert orders(clean_db, "channel") == [("web",), ("web",), ("store",)]


def test_a_date_or_a_time_without_offset_is_in_the_business_time_zone(clean_db, tmp_path):
    path = write(tmp_path, "customer,date,total\n1,2024-03-01,1\n2,2024-03-01 10:00,1\n3,2024-03-01T10:00:00Z,1\n")

    result = load_orders_file(clean_db, path, timezone="Asia/Jakarta")

    assert result.timezone == "Asia/Jakarta"
    assert orders(clean_db, "customer_id, ordered_at") == [
        (1, datetime(2024, 2, 29, 17, tzinfo=UTC)), (2, datetime(2024, 3, 1, 3, tzinfo=UTC)),
        (3, datetime(2024, 3, 1, 10, tzinfo=UTC))]


def test_amounts_load_exactly_up_to_the_limit_of_numeric_18_4(clean_db, tmp_path):
    path = write(tmp_path, "customer,date,total\n1,2024-01-01,99999999999999.9999\n2,2024-01-01,-0.0001\n"
                           "3,2024-01-01,1000\n4,2024-01-01,.5\n5,2024-01-01,+12.\n")

    load_orders_file(clean_db, path)

    assert orders(clean_db, "customer_id, amount") == [
        (1, Decimal("99999999999999.9999")), (2, Decimal("-0.0001")), (3, Decimal("1000")), (4, Decimal("0.5")),
        (5, Decimal("12"))]


def test_day_first_or_month_first_is_decided_by_the_file_and_never_guessed(clean_db, tmp_path):
    ambiguous = write(tmp_path, "customer,date,total\n1,03/04/2024,1\n2,05/06/2024,1\n")
    with pytest.raises(InputFileError, match=r"line 2, column 'date': cannot tell day-first from month-first "
                                             r"dates: .* --date-order day-first or --date-order month-first"):
        load_orders_file(clean_db, ambiguous)
    result = load_orders_file(clean_db, ambiguous, date_order="month-first")
    assert result.date_format == "MM/DD/YYYY"
    assert orders(clean_db, "ordered_at")[0] == (datetime(2024, 3, 4, tzinfo=UTC),)

    mixed = write(tmp_path, "customer,date,total\n1,03/04/2024,1\n2,25/04/2024,1\n3,04/25/2024,1\n")
    with pytest.raises(InputFileError, match=r"line 4, column 'date': expected a date in the file's format, "
                                             r"DD/MM/YYYY, as decided by line 3, '25/04/2024' \(value '04/25/2024'\)"):
        load_orders_file(clean_db, mixed)


GOOD = "customer_id,order_date,amount\n1,2024-01-05,10.00\n2,2024-01-06,20.00\n"


@pytest.mark.parametrize(("bad_line", "message"), [
    ("3,2024-13-01,5", r"line 4, column 'order_date': expected a date in the file's format, YYYY-MM-DD "
                       r"\(value '2024-13-01'\)"),
    ("3,2024-01-07,12.50 USD", r"line 4, column 'amount': expected an amount: a number \(digits, maybe a "
                               r"decimal point.* \(value '12.50 USD'\)"),
    (",2024-01-07,5", r"line 4, column 'customer_id': expected a customer id; the field is empty"),
    ("C123,2024-01-07,5", r"line 4, column 'customer_id': expected a customer id: a whole number "
                          r"\(customer ids must be integers.*\(value 'C123'\)"),
    ("3,2024-01-07,5,web", r"line 4, column 'field 4': expected 3 fields \(the header has 3\), found more "
                           r"\(value 'web'\)"),
    ("3,2024-01-07,1000000000000000", r"line 4, column 'amount': expected an amount: a number of at most 14 "
                                      r"digits before the decimal point"),
    ("3,2024-01-07,-99999999999999.99995", r"line 4, column 'amount': expected an amount: a number of at most 14"),
    ("3,2024-01-07,NaN", r"line 4, column 'amount': expected an amount: a number \(digits"),
])
def test_a_bad_line_fails_naming_it_and_the_previous_orders_stay(clean_db, tmp_path, bad_line, message):
    load_orders_file(clean_db, write(tmp_path, GOOD, "good.csv"))
    previous = orders(clean_db)
    bad = write(tmp_path, GOOD + bad_line + "\n4,2024-01-08,1\n", "bad.csv")

    with pytest.raises(InputFileError, match=rf"^{bad}, {message}"):
        load_orders_file(clean_db, bad)

    assert orders(clean_db) == previous
    assert scalar(clean_db, "SELECT count(*) FROM source.order_loads") == 1


def test_a_file_that_is_not_utf8_is_refused_at_its_line(clean_db, tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes(GOOD.encode() + "3,2024-01-07,Caf\u00e9\n".encode("latin-1"))
    with pytest.raises(InputFileError, match=r"line 4: not UTF-8 text"):
        load_orders_file(clean_db, path)


def test_a_long_file_streams_in_chunks_and_a_late_bad_line_loads_nothing(clean_db, tmp_path):
    lines = CHUNK_ROWS + 50_000
    body = "".join(f"{n % 5000 + 1},2024-01-{n % 28 + 1:02d},{n % 100}.25\n" for n in range(lines))
    good = write(tmp_path, "customer_id,order_date,amount\n" + body, "good.csv")
    seen: list[int] = []

    result = load_orders_file(clean_db, good, progress=lambda rows, seconds: seen.append(rows))

    assert result.rows == lines and seen == [CHUNK_ROWS, lines]
    bad = write(tmp_path, "customer_id,order_date,amount\n" + body + "7,2024-01-32,1\n", "bad.csv")
    with pytest.raises(InputFileError, match=rf"line {lines + 2}, column 'order_date'.*'2024-01-32'"):
        load_orders_file(clean_db, bad)
    assert scalar(clean_db, "SELECT count(*) FROM source.orders") == lines


def test_orders_written_by_other_jobs_survive_a_reload(clean_db, tmp_path):
    with clean_db.begin() as connection:
        connection.execute(sa.text("INSERT INTO source.orders (customer_id, ordered_at, amount) "
                                   "VALUES (99, '2024-01-01', 5)"))
    path = write(tmp_path, GOOD)

    load_orders_file(clean_db, path)
    second = load_orders_file(clean_db, path)

    assert orders(clean_db, "customer_id, load_id") == [(99, None), (1, second.load_id), (2, second.load_id)]
    assert scalar(clean_db, "SELECT count(*) FROM source.order_loads") == 2


def test_an_unknown_time_zone_or_column_is_refused(clean_db, tmp_path, monkeypatch):
    path = write(tmp_path, GOOD)
    with pytest.raises(ConfigurationError, match="'Mars/Base' is not an IANA time zone"):
        load_orders_file(clean_db, path, timezone="Mars/Base")
    with pytest.raises(InputFileError, match=r"line 1: --column amount=price: the header has no column named so"):
        load_orders_file(clean_db, path, columns={"amount": "price"})
    monkeypatch.setenv("SEGMENTS_BUSINESS_TIMEZONE", "Mars/Base")
    with pytest.raises(ValidationError, match="'Mars/Base' is not an IANA time zone"):
        Settings()


def test_segments_load_orders_loads_the_sample_and_refuses_a_bad_file(engine, tmp_path):
    result = segments("load-orders", str(CDNOW_ORDERS))
    assert result.returncode == 0, result.stderr
    assert "loaded 6,919 orders" in result.stdout and "rows/s" in result.stderr

    headerless = write(tmp_path, "17850;13/12/2010;15.30\n17850;14/12/2010;abc\n")
    result = segments("load-orders", str(headerless), "--column", "customer_id=1", "-c", "ordered_at=2",
                      "--column", "amount=3")
    assert result.returncode == 1
    assert "line 2, column 'field 3': expected an amount" in result.stderr and "Traceback" not in result.stderr
    assert "loaded" not in result.stdout

    result = segments("load-orders", str(CDNOW_ORDERS), env={"SEGMENTS_BUSINESS_TIMEZONE": "Mars/Base"})
    assert result.returncode == 1
    assert "'Mars/Base' is not an IANA time zone" in result.stderr and "Traceback" not in result.stderr
