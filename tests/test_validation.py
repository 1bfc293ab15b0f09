"""Great Expectations as the data contract: every expectation fires on a crafted bad input."""

from __future__ import annotations

import json
import re
from datetime import date, timedelta

import jinja2
import pytest
import sqlalchemy as sa

from tasks.validation import duplicates
from tasks.validation.duplicates import candidate_duplicate_ids
from tasks.errors import ConfigurationError, ValidationFailedError
from tasks.extract.customers import SPEND_COLUMNS, SourceMapping, extract_customers
from tasks.load.customers_file import load_customers_file
from tasks.features.recipes import load_recipe, parse_recipe
from tasks.pipeline.stages import RunInputs, run_pipeline
from tasks.pipeline.record import finish_run, start_run, update_run
from tasks.db.sql import read_sql
from tasks.validation import (
    DataDocs,
    ValidationConfig,
    raise_on_contract_failures,
    store_outcomes,
    validate_features,
    validate_rows,
    validate_source_contract,
)
from tasks.validation.gx_runner import (
    EXPECTATIONS_DIR,
    SAMPLE_SIZE,
    gx_context,
    run_suite,
    saved_suite,
    suite_with_columns,
)
from tasks.validation.quarantine import quarantine_rows

AS_OF = date(2014, 6, 30)
LENIENT = ValidationConfig(max_quarantine_share=1.0)


def suite(name: str) -> list[dict]:
    return json.loads((EXPECTATIONS_DIR / f"{name}.json").read_text())["expectations"]


def columns(spec: dict) -> list[str]:
    """The columns an expectation checks: its column, or its list of columns."""
    return spec["kwargs"].get("column_list") or [spec["kwargs"]["column"]]


def violation(spec: dict, column: str) -> object:
    """A value of `column` that breaks `spec` (one row-level expectation)."""
    kind, kwargs = spec["type"], spec["kwargs"]
    if kind == "expect_column_list_values_to_not_be_null":
        return None
    if kind == "expect_column_list_values_to_be_in_set":
        return "no-such-label"
    if column == "birth_year":  # bounds from the run's parameters
        return 1850
    if column == "enrolled_on":
        return AS_OF + timedelta(days=10)
    return kwargs["max_value"] + 1 if kwargs.get("max_value") is not None else kwargs["min_value"] - 1


@pytest.fixture
def sample_extract(clean_db, sample_path):
    load_customers_file(clean_db, sample_path)
    extract_customers(clean_db, SourceMapping(), today=AS_OF)
    run_id = start_run(clean_db, mode_requested="auto", recipe_name="default", parameters={}, flow_run_id=None)
    return clean_db, run_id


def test_every_row_expectation_fires_and_quarantines_with_its_reason(sample_extract):
    engine, run_id = sample_extract
    specs = suite("source_rows")
    # One customer per column of each expectation, each breaking that column only.
    breakages = [(spec, column) for spec in specs for column in columns(spec)]
    with engine.begin() as connection:
        # Keep 100 clean customers, then break one expectation's column per customer.
        connection.execute(sa.text(
            "DELETE FROM segmentation_work.customers_extract WHERE customer_id NOT IN (SELECT customer_id FROM "
            "segmentation_work.customers_extract WHERE income IS NOT NULL AND birth_year > 1940 "
            "ORDER BY customer_id LIMIT 100)"))
        victims = connection.execute(sa.text(
            "SELECT customer_id FROM segmentation_work.customers_extract ORDER BY customer_id")).scalars().all()
        for victim, (spec, column) in zip(victims, breakages, strict=False):
            connection.execute(sa.text(f"UPDATE segmentation_work.customers_extract SET {column} = :value "
                                       "WHERE customer_id = :id"), {"value": violation(spec, column), "id": victim})

    report = validate_rows(engine, run_id=run_id, recipe=load_recipe("default"), config=LENIENT, as_of=AS_OF,
                           docs=None)

    with engine.connect() as connection:
        reasons = dict(connection.execute(sa.text(
            "SELECT customer_id, reasons FROM segmentation_restricted.quarantined_customers WHERE run_id = :r"),
            {"r": run_id}).all())
    assert len(report.outcomes) == len(specs)
    for spec, outcome in zip(specs, report.outcomes, strict=True):
        assert (outcome.expectation, outcome.column) == (spec["type"], ", ".join(columns(spec)))
        broken = len(columns(spec))
        assert not outcome.success and outcome.unexpected_count == broken, outcome.describe()
        assert outcome.action == "quarantined"
        assert len(outcome.sample_values) == min(broken, SAMPLE_SIZE)
    for victim, (spec, column) in zip(victims, breakages, strict=False):
        assert spec["meta"]["reason"] in reasons[victim], (victim, spec, column)
    assert report.quarantined == len(breakages)


def test_quarantine_checks_only_failing_reasons_and_finds_what_every_check_finds(sample_extract):
    """The quarantine evaluates the checks whose expectations failed (the suite's verdict); it finds the same
    customers, with the same reasons, as a pass that evaluates every check."""
    engine, run_id = sample_extract
    with engine.begin() as connection:
        first_ids = connection.execute(sa.text(
            "SELECT customer_id FROM segmentation_work.customers_extract WHERE income IS NOT NULL "
            "AND birth_year > 1940 ORDER BY customer_id LIMIT 3")).scalars().all()
        for column, value, customer_id in (("enrolled_on", None, first_ids[0]),
                                           ("enrolled_on", AS_OF + timedelta(days=1), first_ids[1]),
                                           ("birth_year", None, first_ids[2])):
            connection.execute(sa.text(f"UPDATE segmentation_work.customers_extract SET {column} = :value "
                                       "WHERE customer_id = :id"), {"value": value, "id": customer_id})
    report = validate_rows(engine, run_id=run_id, recipe=load_recipe("default"), config=LENIENT, as_of=AS_OF,
                           docs=None)
    assert {o.reason for o in report.failures} == {"missing_income", "implausible_birth_year",
                                                   "enrolment_out_of_range"}
    every_check = start_run(engine, mode_requested="auto", recipe_name="default", parameters={}, flow_run_id=None)
    quarantine_rows(engine, run_id=every_check, recipe=load_recipe("default"), config=LENIENT, as_of=AS_OF)

    def quarantined(run: int) -> dict[int, list[str]]:
        with engine.connect() as connection:
            return dict(connection.execute(sa.text(
                "SELECT customer_id, reasons FROM segmentation_restricted.quarantined_customers WHERE run_id = :r"),
                {"r": run}).all())

    assert quarantined(run_id) == quarantined(every_check) and len(quarantined(run_id)) == 30
    assert {customer_id: quarantined(run_id)[customer_id] for customer_id in first_ids} == {
        first_ids[0]: ["enrolment_out_of_range"], first_ids[1]: ["enrolment_out_of_range"],
        first_ids[2]: ["implausible_birth_year"]}


def test_sample_passes_except_its_documented_quirks(sample_extract):
    engine, run_id = sample_extract
    report = validate_rows(engine, run_id=run_id, recipe=load_recipe("default"), config=ValidationConfig(),
                           as_of=AS_OF, docs=None)
    failed = {(o.expectation, o.column): o.unexpected_count for o in report.failures}
    assert failed == {("expect_column_list_values_to_not_be_null", "income"): 24,
                      ("expect_column_list_values_to_be_between", "birth_year"): 3}
    assert report.quarantined == 27 and report.duplicates == 183


def test_reference_recipe_keeps_implausible_birth_years_and_imputes_income(sample_extract):
    engine, run_id = sample_extract
    report = validate_rows(engine, run_id=run_id, recipe=load_recipe("reference-rfmlc"), config=ValidationConfig(),
                           as_of=AS_OF, docs=None)
    assert {o.column: o.action for o in report.failures} == {"income": "imputed", "birth_year": "kept"}
    assert report.quarantined == 0


@pytest.mark.parametrize(("policy", "quarantined"), [("keep", 0), ("keep_first", 183), ("quarantine", 0)])
def test_duplicate_policy(sample_extract, policy, quarantined):
    engine, run_id = sample_extract
    recipe = load_recipe("reference-rfmlc").model_copy(update={"duplicates": policy})
    report = validate_rows(engine, run_id=run_id, recipe=recipe, config=LENIENT, as_of=AS_OF, docs=None)
    with engine.connect() as connection:
        groups = connection.scalar(sa.text(
            "SELECT count(*) FROM segmentation_restricted.quarantined_customers WHERE run_id = :r AND "
            "reasons[1] LIKE 'duplicate_group_of:%'"), {"r": run_id})
    assert report.duplicates == 183
    if policy == "quarantine":
        # Every member of a duplicate group, the first included.
        assert report.quarantined == groups and groups > 183
    else:
        assert report.quarantined == quarantined


def test_repeated_record_candidates_are_the_same_however_many_files_hold_the_hashes(sample_extract, monkeypatch):
    engine, _ = sample_extract
    pairs = read_sql("validation/record_hashes.sql")
    with engine.connect() as connection:  # what the candidates must be: customers sharing a hash, by SQL
        expected = connection.exec_driver_sql(
            f"SELECT customer_id FROM ({pairs}) AS p WHERE record_hash IN "
            f"(SELECT record_hash FROM ({pairs}) AS q GROUP BY record_hash HAVING count(*) > 1)").scalars().all()
    in_one_file = candidate_duplicate_ids(engine)
    monkeypatch.setattr(duplicates, "PAIRS_PER_FILE", 100)  # the sample's 2,240 customers over 32 files
    files_sorted = []
    sharing_a_hash = duplicates._sharing_a_hash
    monkeypatch.setattr(duplicates, "_sharing_a_hash",
                        lambda pairs: files_sorted.append(len(pairs)) or sharing_a_hash(pairs))
    spread = candidate_duplicate_ids(engine)
    assert len(files_sorted) == 32 and sum(files_sorted) == 2240 and max(files_sorted) < 2240 / 8
    assert len(expected) >= 183 * 2  # at least every duplicate and the customer it repeats
    assert sorted(in_one_file) == sorted(spread) == sorted(expected)


def test_quarantine_share_above_threshold_fails_the_run(sample_extract):
    engine, run_id = sample_extract
    with pytest.raises(ValidationFailedError, match=r"27 of 2240 customers \(1.2%\) .* above the allowed 1.0%.*"
                                                    r"missing_income': 24"):
        validate_rows(engine, run_id=run_id, recipe=load_recipe("default"),
                      config=ValidationConfig(max_quarantine_share=0.01), as_of=AS_OF, docs=None)


@pytest.fixture
def platform_table(clean_db, sample_path):
    """A copy of the sample in a 'platform' table with its own column names, read through a mapping."""
    load_customers_file(clean_db, sample_path)
    with clean_db.begin() as connection:
        connection.exec_driver_sql("DROP SCHEMA IF EXISTS crm CASCADE; CREATE SCHEMA crm")
        connection.exec_driver_sql("CREATE TABLE crm.customer_360 AS SELECT * FROM source.customers")
        connection.exec_driver_sql("ALTER TABLE crm.customer_360 RENAME COLUMN customer_id TO id")
    columns = {name: name for name in SourceMapping().columns} | {"customer_id": "id"}
    yield clean_db, SourceMapping(table="crm.customer_360", columns=columns)
    with clean_db.begin() as connection:
        connection.exec_driver_sql("DROP SCHEMA IF EXISTS crm CASCADE")


def contract_failures(engine, mapping, config=ValidationConfig()) -> set[tuple[str, str | None]]:
    outcomes = validate_source_contract(engine, mapping, config, docs=None)
    return {(o.expectation, o.column) for o in outcomes if not o.success}


def test_mapped_platform_table_meets_the_contract(platform_table):
    engine, mapping = platform_table
    assert contract_failures(engine, mapping) == set()


@pytest.mark.parametrize(("breakage", "expected"), [
    ("UPDATE crm.customer_360 SET id = 2174 WHERE id = 5524",
     ("expect_column_values_to_be_unique", "customer_id")),
    ("UPDATE crm.customer_360 SET id = NULL WHERE id = 5524",
     ("expect_column_list_values_to_not_be_null", "customer_id")),
    ("ALTER TABLE crm.customer_360 ALTER COLUMN income TYPE text",
     ("expect_column_values_to_be_in_type_list", "income")),
    ("ALTER TABLE crm.customer_360 ALTER COLUMN enrolled_on TYPE text",
     ("expect_column_values_to_be_in_type_list", "enrolled_on")),
    ("ALTER TABLE crm.customer_360 DROP COLUMN complain",
     ("expect_table_columns_to_match_set", None)),
])
def test_each_contract_expectation_fires(platform_table, breakage, expected):
    engine, mapping = platform_table
    with engine.begin() as connection:
        connection.exec_driver_sql(breakage)
    failures = contract_failures(engine, mapping)
    assert expected in failures
    outcomes = validate_source_contract(engine, mapping, ValidationConfig(), docs=None)
    with pytest.raises(ValidationFailedError, match=expected[0]):
        raise_on_contract_failures(outcomes, "crm.customer_360")


def test_list_uniqueness_counts_each_repeat_once_and_skips_rows_with_a_null(clean_db, tmp_path, monkeypatch):
    """expect_column_list_values_to_be_unique counts the rows that repeat an earlier row's values, in the
    suite's one query: for a pair of columns, the pair's values (a row with a null in either is not checked)."""
    with clean_db.begin() as connection:
        connection.exec_driver_sql("CREATE SCHEMA IF NOT EXISTS scratch")
        connection.exec_driver_sql("DROP TABLE IF EXISTS scratch.pairs")
        connection.exec_driver_sql("CREATE TABLE scratch.pairs AS SELECT * FROM (VALUES (1, 1), (1, 1), (1, 2), "
                                   "(2, NULL), (2, NULL), (3, 3), (3, 3), (3, 3)) AS v (a, b)")
    (tmp_path / "pairs.json").write_text(json.dumps({"name": "pairs", "meta": {"severity": "contract"}, "expectations": [
        {"type": "expect_column_list_values_to_be_unique", "kwargs": {"column_list": ["a", "b"]}},
        {"type": "expect_column_list_values_to_be_unique", "kwargs": {"column_list": ["b"]}}]}))
    monkeypatch.setattr("tasks.validation.gx_runner.EXPECTATIONS_DIR", tmp_path)
    try:
        outcomes = run_suite(clean_db, suite_name="pairs", schema="scratch", table="pairs", parameters={}, docs=None)
    finally:
        with clean_db.begin() as connection:
            connection.exec_driver_sql("DROP SCHEMA scratch CASCADE")
    # (1, 1) twice and (3, 3) three times: 1 + 2 repeats; b alone: 1, 1, 2, 3, 3, 3 (nulls skipped): 3.
    assert [(o.column, o.success, o.unexpected_count) for o in outcomes] == [("a, b", False, 3), ("b", False, 3)]


def test_extract_names_a_source_column_it_cannot_convert(platform_table):
    """The extract converts what an INSERT would (integer flags into smallint), and refuses the rest by name."""
    engine, mapping = platform_table
    with engine.begin() as connection:
        connection.exec_driver_sql("ALTER TABLE crm.customer_360 ALTER COLUMN complain TYPE integer")
    assert extract_customers(engine, mapping, today=AS_OF).rows == 2240
    with engine.begin() as connection:
        connection.exec_driver_sql("ALTER TABLE crm.customer_360 ALTER COLUMN enrolled_on TYPE text")
    with pytest.raises(ConfigurationError, match=r"crm.customer_360 has columns of the wrong type: "
                                                 r"enrolled_on \(enrolled_on\) is text, expected date"):
        extract_customers(engine, mapping, today=AS_OF)


def test_the_pipelines_own_source_is_copied_whole_as_a_mapped_table_is_read(clean_db, sample_path):
    """source.customers (its columns are the extract's, with load_id among them) is copied whole rows: the
    same extract as the same rows read through a mapping, which computes the record hash and spend total the
    source keeps, but for the raw labels, which are the ones the loader kept."""
    load_customers_file(clean_db, sample_path)
    query = "SELECT * FROM segmentation_work.customers_extract ORDER BY customer_id"

    def extracted(mapping: SourceMapping) -> tuple[list[str], list[dict]]:
        extract_customers(clean_db, mapping, today=AS_OF)
        with clean_db.connect() as connection:
            result = connection.execute(sa.text(query))
            return list(result.keys()), [dict(row) for row in result.mappings()]

    whole_columns, whole = extracted(SourceMapping())
    with clean_db.begin() as connection:
        connection.exec_driver_sql("DROP SCHEMA IF EXISTS crm CASCADE; CREATE SCHEMA crm; "
                                   "CREATE VIEW crm.customers AS SELECT * FROM source.customers")
    listed_columns, listed = extracted(SourceMapping(table="crm.customers"))
    with clean_db.begin() as connection:
        connection.exec_driver_sql("DROP SCHEMA crm CASCADE")
        source_raw = connection.execute(sa.text(
            "SELECT education_raw, marital_status_raw FROM source.customers ORDER BY customer_id")).all()
    assert whole_columns == listed_columns and "load_id" not in whole_columns and len(whole) == 2240
    assert all(row["spend_total"] == float(sum(row[spend] for spend in SPEND_COLUMNS)) for row in whole)
    raw = ("education_raw", "marital_status_raw")
    assert [{k: v for k, v in row.items() if k not in raw} for row in whole] == \
        [{k: v for k, v in row.items() if k not in raw} for row in listed]
    assert [(row["education_raw"], row["marital_status_raw"]) for row in whole] == [tuple(r) for r in source_raw]
    assert {row["education_raw"] for row in whole} >= {"S1", "SMA"}
    assert [(row["education_raw"], row["marital_status_raw"]) for row in listed] == \
        [(row["education"], row["marital_status"]) for row in listed]


def test_extract_reads_labels_however_the_platform_writes_them(platform_table):
    """A label's canonical form is the vocabulary's for the label trimmed and in lower case, else the label
    trimmed and in lower case, whether the label is written as the vocabulary's variants or otherwise."""
    engine, mapping = platform_table
    written = [("S1", "Menikah", "bachelor", "married"), (" graduation ", "CERAI", "bachelor", "divorced"),
               ("PhD", " Janda", "doctorate", "widowed"), ("2n Cycle", "YOLO", "diploma", "other"),
               ("Basic", "It's Complicated", "basic", "it's complicated"),
               ("Unheard Of ", "together", "unheard of", "together"), (None, None, None, None)]
    with engine.begin() as connection:
        ids = connection.scalars(sa.text("SELECT id FROM crm.customer_360 ORDER BY id LIMIT 7")).all()
        for customer, (education, marital_status, _, _) in zip(ids, written, strict=True):
            connection.execute(sa.text("UPDATE crm.customer_360 SET education = :education, "
                                       "marital_status = :marital_status WHERE id = :id"),
                               {"education": education, "marital_status": marital_status, "id": customer})
    extract_customers(engine, mapping, today=AS_OF)
    with engine.connect() as connection:
        extracted = connection.execute(sa.text(
            "SELECT education_raw, marital_status_raw, education, marital_status "
            "FROM segmentation_work.customers_extract WHERE customer_id = ANY(:ids) ORDER BY customer_id"),
            {"ids": ids}).all()
    assert [tuple(row) for row in extracted] == written


def test_row_count_collapse_is_a_contract_breach(platform_table):
    engine, mapping = platform_table
    previous = start_run(engine, mode_requested="auto", recipe_name="default", parameters={}, flow_run_id=None)
    update_run(engine, previous, rows_extracted=2240)
    finish_run(engine, previous, status="succeeded")
    with engine.begin() as connection:
        connection.exec_driver_sql("DELETE FROM crm.customer_360 WHERE mod(id, 3) <> 0")  # about two thirds
        remaining = connection.scalar(sa.text("SELECT count(*) FROM crm.customer_360"))
    assert remaining < 1120  # more than the default 50% drop
    assert ("expect_table_row_count_to_be_between", None) in contract_failures(engine, mapping)
    assert contract_failures(engine, mapping, ValidationConfig(max_row_count_drop=0.8)) == set()


def test_feature_suite_rejects_infinite_and_missing_values(sample_extract):
    engine, run_id = sample_extract
    with engine.begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO segmentation_work.customer_features VALUES "
            "(1, 'Infinity', 1, 1, 1, 0, 40, NULL, 0, 1, 0, 0, 0), (2, 10, NULL, 1, 1, 0, 40, NULL, 0, 1, 0, 0, 0), "
            "(3, 10, 1, 'NaN', 1, 0, 40, NULL, 0, 1, 0, 0, 0)")
    outcomes = validate_features(engine, docs=None)
    failed = {(o.expectation, o.column): o.sample_values for o in outcomes if not o.success}
    # Each list expectation names the customers' columns that break it, with their values.
    in_range, not_null = ("expect_column_list_values_to_be_between", "expect_column_list_values_to_not_be_null")
    listed = {spec["type"]: ", ".join(spec["kwargs"]["column_list"]) for spec in suite("features")
              if "recency_days" in spec["kwargs"]["column_list"]}  # the lists (age has a rule of its own)
    assert failed == {(in_range, listed[in_range]): [{"recency_days": "Infinity"}, {"monetary": "NaN"}],
                      (not_null, listed[not_null]): [{"frequency": None}]}
    assert len(outcomes) == len(suite("features")) == 4
    store_outcomes(engine, run_id, outcomes)  # infinite and NaN sample values are stored as their names (jsonb has none)
    with engine.connect() as connection:
        stored = connection.scalar(sa.text("SELECT sample_values FROM segmentation_restricted.validation_results "
                                           "WHERE run_id = :r AND expectation = :e"), {"r": run_id, "e": in_range})
    assert stored == [{"recency_days": "Infinity"}, {"monetary": "NaN"}]


def test_validation_summary_lists_failures_and_what_was_done(sample_extract):
    engine, run_id = sample_extract
    report = validate_rows(engine, run_id=run_id, recipe=load_recipe("default"), config=ValidationConfig(),
                           as_of=AS_OF, docs=None)
    text = report.markdown()
    assert "- 9 of 11 expectations held" in text
    assert "- 27 of 2240 customers quarantined" in text and "183 customers repeat" in text
    assert "| source_rows | expect_column_list_values_to_not_be_null | income | 24 | NULL, NULL, NULL" in text
    # The sample lists the failing values in the extract's (the source's) order.
    birth_year_row = next(line for line in text.splitlines() if "| birth_year | 3 |" in line)
    assert birth_year_row.endswith("| quarantined |")
    assert sorted(value.strip() for value in birth_year_row.split("|")[5].split(",")) == ["1893", "1899", "1900"]


def test_the_data_docs_index_lists_every_suite_of_every_run(sample_extract, tmp_path):
    engine, run_id = sample_extract
    docs_dir = tmp_path / "data_docs"
    with DataDocs(docs_dir) as docs:
        for _ in range(2):
            validate_source_contract(engine, SourceMapping(), ValidationConfig(), docs)
        validate_rows(engine, run_id=run_id, recipe=load_recipe("default"), config=LENIENT, as_of=AS_OF, docs=docs)
    index = (docs_dir / "index.html").read_text()
    linked = {suite: set(re.findall(rf"validations/{suite}/__none__/([0-9TZ.]+)/", index))
              for suite in ("source_contract", "source_rows", "source_rows/failures")}
    # Both contract runs, and the row-level suite's one run: its expectations are all ours, which list the
    # failing values in the same pass (no second pass for the failures).
    assert [len(linked[suite]) for suite in linked] == [2, 1, 0]
    for suite, runs in linked.items():
        for run in runs:
            assert list((docs_dir / "validations" / suite / "__none__" / run).glob("*.html")), (suite, run)
    (row_level_page,) = (docs_dir / "validations" / "source_rows" / "__none__").glob("*/*.html")
    assert "1893" in row_level_page.read_text()  # a birth year that breaks its expectation


def test_the_data_docs_keep_each_suites_newest_validations(sample_extract, tmp_path):
    engine, _ = sample_extract
    docs_dir = tmp_path / "data_docs"
    stored = tmp_path / "gx_stores" / "validations" / "source_contract" / "__none__"
    runs = []
    for _ in range(3):
        with DataDocs(docs_dir, keep_runs=2) as docs:
            validate_source_contract(engine, SourceMapping(), ValidationConfig(), docs)
        runs.append(max(path.name for path in stored.iterdir()))
    # The oldest run's result and page are gone; the index links the two newest.
    assert sorted(path.name for path in stored.iterdir()) == runs[1:]
    assert sorted(path.name for path in (docs_dir / "validations" / "source_contract" / "__none__").iterdir()) \
        == runs[1:]
    index = (docs_dir / "index.html").read_text()
    assert set(re.findall(r"validations/source_contract/__none__/([0-9TZ.]+)/", index)) == set(runs[1:])


def test_data_docs_pages_come_from_templates_compiled_once_per_process(sample_extract, tmp_path, monkeypatch):
    engine, _ = sample_extract
    compiled: list[str] = []
    compile_template = jinja2.Environment.compile

    def counting_compile(environment, source, name=None, filename=None, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003
        compiled.append(name)
        return compile_template(environment, source, name, filename, *args, **kwargs)

    monkeypatch.setattr(jinja2.Environment, "compile", counting_compile)
    compiled_by_build = []
    for build in range(2):
        with DataDocs(tmp_path / f"site_{build}") as docs:
            validate_source_contract(engine, SourceMapping(), ValidationConfig(), docs)
        compiled_by_build.append(len(compiled))
    # The second site (a later build in the same process) compiled nothing, and its pages are whole.
    assert compiled_by_build[1] == compiled_by_build[0]
    page, = (tmp_path / "site_1" / "validations" / "source_contract").rglob("*.html")
    words = " ".join(re.sub(r"<[^>]+>", " ", page.read_text()).split())  # the page's text, without its markup
    assert "values of customer_id must never be null" in words
    assert (tmp_path / "site_1" / "index.html").exists()


def test_a_suite_is_stored_once_and_replaced_when_its_expectations_change(tmp_path):
    gx, context = gx_context(tmp_path / "data_docs")
    document = {"name": "checks", "meta": {"severity": "row"}, "expectations": [
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "income"}}]}
    first = saved_suite(context, suite_with_columns(gx, document, {}))
    again = saved_suite(context, suite_with_columns(gx, document, {}))
    assert again.id == first.id
    assert [expectation.id for expectation in again.expectations] == [expectation.id for expectation in first.expectations]

    changed = {**document, "expectations": [{"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "age"}}]}
    saved_suite(context, suite_with_columns(gx, changed, {}))
    # A later run's context reads the changed suite from the store.
    _, later = gx_context(tmp_path / "data_docs")
    assert [expectation.column for expectation in later.suites.get("checks").expectations] == ["age"]


RFM_PROFILE_COLUMNS = ("customer_id", "recency_days", "purchases_deals", "purchases_web", "purchases_catalog",
                       "purchases_store", *SPEND_COLUMNS, "enrolled_on")


@pytest.fixture
def rfm_profile_table(platform_table):
    """The platform table with only the columns an RFM-and-tenure recipe reads."""
    engine, mapping = platform_table
    dropped = [column for column in SourceMapping().columns if column not in RFM_PROFILE_COLUMNS]
    with engine.begin() as connection:
        connection.exec_driver_sql("ALTER TABLE crm.customer_360 "
                                   + ", ".join(f"DROP COLUMN {column}" for column in dropped))
    columns = {name: column for name, column in mapping.columns.items() if name in RFM_PROFILE_COLUMNS}
    return engine, SourceMapping(table="crm.customer_360", columns=columns)


RFM_TENURE = parse_recipe({"name": "rfm-tenure", "k": 3, "features": [
    {"name": name} for name in ("recency_days", "frequency", "monetary", "tenure_days")]})


def test_a_mapped_profile_table_needs_only_the_columns_of_the_recipes_features(rfm_profile_table):
    """Columns the mapping leaves out are extracted as NULL, neither checked by the contract nor a reason to
    quarantine anyone: every customer is published."""
    engine, mapping = rfm_profile_table
    result = run_pipeline(engine, RunInputs(recipe=RFM_TENURE, mapping=mapping, validation=ValidationConfig()))
    assert result.published == 2240
    with engine.connect() as connection:
        quarantined = connection.execute(sa.text("SELECT count(*) FROM segmentation_restricted.quarantined_customers "
                                                 "WHERE run_id = :run_id"), {"run_id": result.run_id}).scalar_one()
    assert quarantined == 0


def test_a_mapping_without_a_column_a_feature_reads_fails_naming_it(rfm_profile_table):
    engine, mapping = rfm_profile_table
    columns = {name: column for name, column in mapping.columns.items() if name != "purchases_web"}
    with pytest.raises(ConfigurationError, match=r"the recipe's feature frequency needs purchases_web: map them"):
        extract_customers(engine, mapping.model_copy(update={"columns": columns}), today=AS_OF,
                          features=RFM_TENURE.feature_names)
