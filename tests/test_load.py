"""Loading customers files: both dialects of the data set, and files that must be refused whole."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from tasks.errors import ConfigurationError, InputFileError
from tasks.load.customers_file import load_customers_file
from tests.kaggle import write_kaggle_variant

CANONICAL_QUERY = """
    SELECT customer_id, birth_year, education, marital_status, kids_home, teens_home, enrolled_on, recency_days,
           purchases_deals, purchases_web, purchases_catalog, purchases_store, web_visits_month,
           accepted_cmp1, accepted_cmp2, accepted_cmp3, accepted_cmp4, accepted_cmp5, response, complain
    FROM source.customers ORDER BY customer_id
"""


def rows(engine, query: str = CANONICAL_QUERY) -> list[tuple]:
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(sa.text(query))]


def test_sample_loads_every_customer_with_canonical_labels(clean_db, sample_path):
    result = load_customers_file(clean_db, sample_path)
    assert (result.rows, result.delimiter, result.date_format) == (2240, ",", "dd-mm-yyyy")
    assert (result.label_language, result.currency) == ("id", "IDR")
    assert str(result.snapshot_date) == "2014-06-30"  # day after the latest enrolment
    with clean_db.connect() as connection:
        first = connection.execute(sa.text(
            "SELECT education, education_raw, marital_status, marital_status_raw, income, spend_wines, enrolled_on "
            "FROM source.customers WHERE customer_id = 5524")).one()
        missing_income = connection.scalar(sa.text("SELECT count(*) FROM source.customers WHERE income IS NULL"))
        vocabulary = set(connection.execute(sa.text("SELECT DISTINCT education FROM source.customers")).scalars())
    assert first.education == "bachelor" and first.education_raw == "S1"
    assert first.marital_status == "single" and first.marital_status_raw == "Lajang"
    assert float(first.income) == 58_138_000 and float(first.spend_wines) == 635_000
    assert str(first.enrolled_on) == "2012-09-04"  # 04-09-2012 read day first
    assert missing_income == 24
    assert vocabulary == {"basic", "diploma", "bachelor", "master", "doctorate"}


@pytest.mark.parametrize(("sep", "iso_dates", "bom"), [("\t", False, False), (";", True, True), (",", True, False)])
def test_kaggle_export_gives_the_same_canonical_rows(clean_db, sample_path, tmp_path, sep, iso_dates, bom):
    load_customers_file(clean_db, sample_path)
    expected = rows(clean_db)
    expected_amounts = rows(clean_db, "SELECT customer_id, income / 1000, spend_wines / 1000, spend_gold / 1000 "
                                      "FROM source.customers ORDER BY customer_id")
    kaggle = tmp_path / "marketing_campaign.csv"
    write_kaggle_variant(sample_path, kaggle, sep=sep, iso_dates=iso_dates, bom=bom)

    result = load_customers_file(clean_db, kaggle)

    assert result.label_language == "en" and result.currency == "USD"
    assert result.date_format == ("yyyy-mm-dd" if iso_dates else "dd-mm-yyyy")
    assert rows(clean_db) == expected
    assert rows(clean_db, "SELECT customer_id, income, spend_wines, spend_gold FROM source.customers "
                          "ORDER BY customer_id") == expected_amounts
    with clean_db.connect() as connection:
        raw = connection.scalar(sa.text("SELECT education_raw FROM source.customers WHERE customer_id = 5524"))
        loads = connection.scalar(sa.text("SELECT count(*) FROM source.loads"))
    assert raw == "Graduation" and loads == 2


def write(tmp_path: Path, text: str, name: str = "customers.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def sample_lines(sample_path: Path, count: int = 4) -> list[str]:
    return sample_path.read_text().splitlines()[:count]


def test_missing_required_column_is_named(clean_db, sample_path, tmp_path):
    lines = [line.rsplit(",", 1)[0] for line in sample_lines(sample_path)]  # drop Response
    with pytest.raises(InputFileError, match=r"line 1: missing required column\(s\): response \(header Response\)"):
        load_customers_file(clean_db, write(tmp_path, "\n".join(lines)))


def test_duplicate_header_is_refused(clean_db, sample_path, tmp_path):
    header, *data = sample_lines(sample_path)
    header = header.replace("Kidhome", "Income")
    with pytest.raises(InputFileError, match=r"line 1, column 'Income': duplicate header 'Income' \(columns 6 and 7\)"):
        load_customers_file(clean_db, write(tmp_path, "\n".join([header, *data])))


def test_unparsable_value_names_line_column_and_value(clean_db, sample_path, tmp_path):
    header, first, second, third = sample_lines(sample_path)
    second = second.replace(",38,", ",thirty-eight,", 1)  # Recency of customer 2174
    with pytest.raises(InputFileError) as error:
        load_customers_file(clean_db, write(tmp_path, "\n".join([header, first, second, third])))
    assert "line 3, column 'Recency': expected a whole number (value 'thirty-eight')" in str(error.value)


def test_mixed_date_formats_are_refused_not_guessed(clean_db, sample_path, tmp_path):
    header, first, second, third = sample_lines(sample_path)
    second = second.replace("08-03-2014", "2014-03-08")
    with pytest.raises(InputFileError, match="neither all dd-mm-yyyy nor all yyyy-mm-dd"):
        load_customers_file(clean_db, write(tmp_path, "\n".join([header, first, second, third])))


def test_impossible_date_is_refused(clean_db, sample_path, tmp_path):
    header, first, *rest = sample_lines(sample_path)
    first = first.replace("04-09-2012", "31-02-2012")
    with pytest.raises(InputFileError, match=r"line 2, column 'Dt_Customer': expected a date .* \(value '31-02-2012'\)"):
        load_customers_file(clean_db, write(tmp_path, "\n".join([header, first, *rest])))


def test_repeated_customer_id_is_refused_with_its_lines(clean_db, sample_path, tmp_path):
    header, first, second, third = sample_lines(sample_path)
    third = third.replace(",4141,", ",2174,", 1)
    with pytest.raises(InputFileError, match=r"line 3, column 'ID': customer id appears more than once \(lines 3, 4\)"):
        load_customers_file(clean_db, write(tmp_path, "\n".join([header, first, second, third])))


def test_a_bad_file_leaves_the_previous_load_in_place(clean_db, sample_path, tmp_path):
    load_customers_file(clean_db, sample_path)
    header, first, second, _ = sample_lines(sample_path)
    bad = write(tmp_path, "\n".join([header, first, second.replace(",1,1,", ",one,1,", 1)]))
    with pytest.raises(InputFileError):
        load_customers_file(clean_db, bad)
    with clean_db.connect() as connection:
        assert connection.scalar(sa.text("SELECT count(*) FROM source.customers")) == 2240
        assert connection.scalar(sa.text("SELECT count(*) FROM source.loads")) == 1


def test_header_only_and_undelimited_files_are_refused(clean_db, sample_path, tmp_path):
    header = sample_lines(sample_path, 1)[0]
    with pytest.raises(InputFileError, match="header but no customers"):
        load_customers_file(clean_db, write(tmp_path, header + "\n"))
    with pytest.raises(InputFileError, match="cannot tell the delimiter"):
        load_customers_file(clean_db, write(tmp_path, "just some text\n", "text.csv"))


def test_values_are_checked_against_the_types_of_source_customers(clean_db):
    from tasks.load.customers_file import AMOUNT_COLUMNS, AMOUNT_TYPE, INTEGER_TYPES

    with clean_db.connect() as connection:
        types = dict(connection.execute(sa.text(
            "SELECT column_name, CASE WHEN data_type = 'numeric' THEN format('numeric(%s, %s)', numeric_precision, "
            "numeric_scale) ELSE data_type END FROM information_schema.columns "
            "WHERE table_schema = 'source' AND table_name = 'customers'")).all())
    assert {column: types[column] for column in INTEGER_TYPES} == INTEGER_TYPES
    assert {types[column] for column in AMOUNT_COLUMNS} == {"numeric({}, {})".format(*AMOUNT_TYPE)}


def test_a_bad_value_is_named_at_its_line_though_later_lines_are_bad_too(clean_db, sample_path, tmp_path):
    header, first, second, third = sample_lines(sample_path)
    second = second.replace(",1954,", ",1954.5,", 1)  # Year_Birth, line 3
    third = third + ",extra"  # line 4: a field too many
    with pytest.raises(InputFileError, match=r"line 3, column 'Year_Birth': expected a whole number \(value '1954.5'\)"):
        load_customers_file(clean_db, write(tmp_path, "\n".join([header, first, second, third])))


def test_a_currency_that_is_not_a_short_code_is_refused_before_reading(clean_db, sample_path):
    load_customers_file(clean_db, sample_path)
    with pytest.raises(ConfigurationError, match="--currency must be a currency code such as IDR or USD"):
        load_customers_file(clean_db, sample_path, currency="<script>alert(1)</script>")
    with clean_db.connect() as connection:
        assert connection.scalar(sa.text("SELECT count(*) FROM source.loads")) == 1
    assert load_customers_file(clean_db, sample_path, currency=" EUR ").currency == "EUR"
