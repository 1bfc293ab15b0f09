"""Validate: Great Expectations suites (expectations/*.json) run in PostgreSQL, two severities.

- `source_contract` runs on the source table (mapped names): a failure stops the run before anything
  is written, with the expectation, the column and sample values in the error.
- `source_rows` runs on the run's extract: customers that break a row-level expectation are
  quarantined (segmentation.quarantined_customers) unless the recipe keeps such rows.
- `features` runs on the computed features: a failure stops the run.

GX never sees the password: the URL reaches it through an environment variable it substitutes, and
failing-value samples are bounded (result_format SUMMARY).
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tasks.db.server import PARALLEL_PARTS, BackgroundJobs, concurrently
from tasks.validation.duplicates import candidate_duplicate_ids
from tasks.errors import ConfigurationError, ValidationFailedError
from tasks.extract.customers import EXTRACT_TABLE, SourceMapping
from tasks.features.recipes import Recipe
from tasks.pipeline.record import last_successful_run
from tasks.settings import PROJECT_ROOT
from tasks.db.sql import analyze_for_planning, driver_connection, execute_by_page_ranges, read_sql


EXPECTATIONS_DIR = PROJECT_ROOT / "expectations"
GX_URL_VARIABLE = "SEGMENTS_GX_DATABASE_URL"
SAMPLE_SIZE = 5
# Which recipe row check governs each row-level reason.
REASON_CHECKS = {
    "implausible_birth_year": "implausible_birth_year",
    "unknown_education": "unknown_category",
    "unknown_marital_status": "unknown_category",
    "negative_amount": "negative_amount",
    "enrolment_out_of_range": "enrolment_out_of_range",
}


@dataclass(frozen=True)
class ValidationConfig:
    """Thresholds of the data contract (run parameters)."""

    max_quarantine_share: float = 0.05
    max_row_count_drop: float = 0.5
    earliest_enrolment: date = date(1990, 1, 1)
    min_age: int = 16
    max_age: int = 110


@dataclass
class ExpectationOutcome:
    suite: str
    severity: str
    expectation: str
    column: str | None
    success: bool
    unexpected_count: int | None
    sample_values: list[Any]
    observed_value: Any
    action: str = "none"
    reason: str | None = None

    def describe(self) -> str:
        where = f" on column {self.column!r}" if self.column else ""
        found = (f": {self.unexpected_count} unexpected, e.g. {self.sample_values}"
                 if self.unexpected_count else f": observed {self.observed_value!r}")
        return f"{self.suite}.{self.expectation}{where}{found}"


@dataclass
class ValidationReport:
    outcomes: list[ExpectationOutcome] = field(default_factory=list)
    quarantined: int = 0
    duplicates: int = 0
    extracted: int = 0
    docs_index: Path | None = None

    @property
    def failures(self) -> list[ExpectationOutcome]:
        return [outcome for outcome in self.outcomes if not outcome.success]

    def markdown(self) -> str:
        """Summary for the Prefect run: counts, then each failed expectation and what the run did."""
        passed = len(self.outcomes) - len(self.failures)
        lines = ["# Validation", "",
                 f"- {passed} of {len(self.outcomes)} expectations held",
                 f"- {self.quarantined} of {self.extracted} customers quarantined "
                 "(segmentation.quarantined_customers)",
                 f"- {self.duplicates} customers repeat another's record in every column but the id"]
        if self.docs_index is not None:
            lines.append(f"- Data Docs: {self.docs_index}")
        if self.failures:
            lines += ["", "| suite | expectation | column | unexpected | sample | action |", "|---|---|---|---|---|---|"]
            lines += [f"| {o.suite} | {o.expectation} | {o.column or ''} | {o.unexpected_count or ''} | "
                      f"{', '.join('NULL' if v is None else str(v) for v in o.sample_values)} | {o.action} |" for o in self.failures]
        return "\n".join(lines) + "\n"


def load_suite_document(name: str) -> dict:
    return json.loads((EXPECTATIONS_DIR / f"{name}.json").read_text())


class DataDocs(BackgroundJobs):
    """A run's Great Expectations Data Docs site (`directory`/index.html) and the GX stores beside it.

    Each suite's pages are built in a background thread while the run goes on: a build renders GX's page
    templates (compiled once per process, tasks/validation/data_docs_views.py), about 0.2 s of Python per suite whatever the
    number of customers, that no stage needs. The index, which lists every suite of every run kept (its build reads them all: 1.9 s with
    124 stored results), is built once per run, after the run's suites (`build_index`, or else by `wait`),
    once the validations beyond each suite's newest `keep_runs` are deleted (`prune`). One thread, so builds
    of the one site never overlap (tasks.db.server.BackgroundJobs: `wait()` returns once every build submitted
    has finished, and raises the first one's error; leaving a `with` block waits too).
    """

    def __init__(self, directory: Path, keep_runs: int = 30) -> None:
        super().__init__("building the Data Docs")
        self.directory = directory
        self.keep_runs = keep_runs
        # The latest suite's pages, held back so that they are built with the index if it is the run's last.
        self._latest: tuple[Any, list] | None = None

    @property
    def index(self) -> Path:
        return self.directory / "index.html"

    def build(self, context: Any, resources: list) -> None:
        """Build (in the background) the pages of `resources`: earlier runs' pages are on disk already."""
        self._submit_latest(with_index=False)
        self._latest = (context, resources)

    def build_index(self) -> None:
        """Build (in the background) the index, with the pages of the latest suite."""
        self._submit_latest(with_index=True)

    def _submit_latest(self, *, with_index: bool) -> None:
        if self._latest is not None:
            context, resources = self._latest
            if with_index:
                self.submit(self.prune)
            self.submit(context.build_data_docs, site_names=["local"], resource_identifiers=resources,
                        build_index=with_index)
            self._latest = None

    def prune(self) -> int:
        """Delete each suite's stored validations beyond its newest `keep_runs`, with their pages; returns how
        many. A validation is a directory named by its run time (GX's store: suite/run name/run time/)."""
        stores = _stores_dir(self.directory) / "validations"
        runs_by_suite: dict[Path, set[Path]] = {}
        for result in stores.rglob("*.json"):
            runs_by_suite.setdefault(result.parent.parent, set()).add(result.parent)
        pruned = 0
        for runs in runs_by_suite.values():
            for run in sorted(runs, key=lambda path: path.name)[:-self.keep_runs]:
                shutil.rmtree(run)
                shutil.rmtree(self.directory / "validations" / run.relative_to(stores), ignore_errors=True)
                pruned += 1
        return pruned

    def wait(self) -> list[Any]:
        self.build_index()
        return super().wait()


def _stores_dir(docs_dir: Path) -> Path:
    return docs_dir.parent / "gx_stores"


def _gx_context(docs_dir: Path | None):
    """An ephemeral GX context; with a Data Docs directory, its suites and validation results are kept on
    disk beside it (`gx_stores/`), so the Data Docs index lists every suite of every run, as a GX project's
    does, and not only the suite that built the site last."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import great_expectations as gx  # noqa: PLC0415 (slow import, only when validating)

        import tasks.validation.expectations  # noqa: F401, PLC0415 (registers our expectations with GX)
        from great_expectations.data_context.types.base import (  # noqa: PLC0415
            DataContextConfig,
            InMemoryStoreBackendDefaults,
            ProgressBarsConfig,
        )
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    config = DataContextConfig(store_backend_defaults=InMemoryStoreBackendDefaults())
    if docs_dir is not None:
        docs_dir.mkdir(parents=True, exist_ok=True)
        stores_dir = _stores_dir(docs_dir)
        for store, directory in (("expectations_store", "expectations"),
                                 ("validation_results_store", "validations")):
            config.stores[store]["store_backend"] = {"class_name": "TupleFilesystemStoreBackend",
                                                     "base_directory": str(stores_dir / directory)}
        config.data_docs_sites = {"local": {
            "class_name": "SiteBuilder",
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)},
            # GX's views, on templates compiled once per process (tasks/validation/data_docs_views.py); no profiling section:
            # the pipeline stores no profiling results for it to list.
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder", "view": {
                "module_name": "tasks.validation.data_docs_views", "class_name": "CachedJinjaIndexPageView"}},
            "site_section_builders": {
                **{section: {"view": {"module_name": "tasks.validation.data_docs_views", "class_name": "CachedJinjaPageView"}}
                   for section in ("expectations", "validations")},
                "profiling": "False"}}}
    context = gx.get_context(project_config=config, mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return gx, context


def _suite_with_columns(gx, document: dict, rename: dict[str, str]):
    """Build the suite, translating canonical column names to the table's own (mapping)."""
    expectations = []
    for spec in document["expectations"]:
        kwargs = dict(spec["kwargs"])
        if "column" in kwargs:
            kwargs["column"] = rename.get(kwargs["column"], kwargs["column"])
        for listing in ("column_set", "column_list"):
            if listing in kwargs:
                kwargs[listing] = [rename.get(column, column) for column in kwargs[listing]]
        expectations.append({**spec, "kwargs": kwargs})
    return gx.ExpectationSuite(name=document["name"], expectations=expectations, meta=document.get("meta", {}))


def _saved_suite(context: Any, suite: Any) -> Any:
    """`suite` in the context's store: the stored one when its expectations are the same (as on every run
    but the first after a change), else `suite`, added in its place. GX's add_or_update compares each
    expectation with every stored one (0.3 s of Python for the source contract, on every run)."""
    from great_expectations.exceptions import DataContextError  # noqa: PLC0415 (GX is imported lazily)

    def content(of: Any) -> list[dict]:
        return [{key: value for key, value in expectation.items() if key != "id"}
                for expectation in of.to_json_dict()["expectations"]]

    try:
        stored = context.suites.get(name=suite.name)
    except DataContextError:
        return context.suites.add(suite)
    if content(stored) == content(suite) and stored.meta == suite.meta:
        return stored
    context.suites.delete(name=suite.name)
    return context.suites.add(suite)


def run_suite(engine: Engine, *, suite_name: str, schema: str, table: str, parameters: dict[str, Any],
              docs: DataDocs | None, rename: dict[str, str] | None = None) -> list[ExpectationOutcome]:
    """Run one suite against a table in the database; results in canonical column names.

    GX bundles the suite's counts into one aggregate query per table, but fetches failing-value samples
    with one query per expectation, which for GX's map expectations is a full scan for each that holds.
    A suite without them is run once, with result_format SUMMARY: our list expectations ask for samples only
    where their count found rows (tasks/validation/expectations.py). A suite with them is screened with
    BOOLEAN_ONLY first. Either way a second, SUMMARY pass runs over the expectations that failed without
    their detail (or the ones their meta.explained_by names), for their counts and samples. Data Docs show
    every expectation, and then the failures' detail where it took a second pass.
    """
    rename = rename or {}
    document = load_suite_document(suite_name)
    severity = document["meta"]["severity"]
    os.environ[GX_URL_VARIABLE] = engine.url.render_as_string(hide_password=False)
    gx, context = _gx_context(docs.directory if docs is not None else None)
    source = context.data_sources.add_postgres(name="segments", connection_string="${" + GX_URL_VARIABLE + "}")
    asset = source.add_table_asset(name=f"{schema}.{table}", table_name=table, schema_name=schema)
    batch = asset.add_batch_definition_whole_table("whole table")

    built_resources: list = []  # this suite's validations and suites: the Data Docs pages to (re)build

    def run_checkpoint(name: str, expectations: list[dict], result_format: dict) -> list:
        suite = _saved_suite(context, _suite_with_columns(
            gx, {**document, "name": name, "expectations": expectations}, rename))
        definition = context.validation_definitions.add(
            gx.ValidationDefinition(name=f"{name} on {schema}.{table}", data=batch, suite=suite))
        checkpoint = context.checkpoints.add(gx.Checkpoint(
            name=name, validation_definitions=[definition], result_format=result_format))
        result = checkpoint.run(expectation_parameters=parameters)
        (identifier, validation), = result.run_results.items()
        built_resources.extend([identifier, identifier.expectation_suite_identifier])
        return list(validation.results)

    specs = document["expectations"]
    keys = [_spec_key(spec) for spec in specs]
    keys += [_spec_key(_explanation(spec)) for spec in specs if _explanation(spec) is not spec]
    if len(set(keys)) != len(keys):
        raise ConfigurationError(f"expectations/{suite_name}.json repeats an expectation type on the same column")
    canonical = {mapped: name for name, mapped in rename.items()}

    def by_expectation(results: list) -> dict[tuple[str, str | None], Any]:
        # GX returns results in its own order (table-level first): match them to the suite's by key.
        return {_expectation_key(item.expectation_config.type, item.expectation_config.kwargs, canonical): item
                for item in results}

    summary = {"result_format": "SUMMARY", "partial_unexpected_count": SAMPLE_SIZE}
    summarised = not any(_samples_by_scanning(spec) for spec in specs)
    screened = by_expectation(run_checkpoint(suite_name, specs,
                                             summary if summarised else {"result_format": "BOOLEAN_ONLY"}))
    failing = [spec for spec in specs if not screened[_spec_key(spec)].success
               and (not summarised or _explanation(spec) is not spec)]
    detailed = by_expectation(run_checkpoint(
        f"{suite_name}.failures", [_explanation(spec) for spec in failing],
        summary)) if failing else {}
    if docs is not None:
        docs.build(context, built_resources)  # once for both passes
    return [_outcome(detailed.get(_spec_key(_explanation(spec)), screened[_spec_key(spec)]), spec, suite_name,
                     severity, canonical)
            for spec in specs]


def _samples_by_scanning(spec: dict) -> bool:
    """Whether GX looks for `spec`'s failing values (result_format SUMMARY) even where none fail: its map
    expectations do."""
    from great_expectations.expectations.expectation import (  # noqa: PLC0415 (GX is imported by now)
        ColumnMapExpectation,
        ColumnPairMapExpectation,
        MulticolumnMapExpectation,
    )
    from great_expectations.expectations.registry import get_expectation_impl  # noqa: PLC0415

    return issubclass(get_expectation_impl(spec["type"]),
                      (ColumnMapExpectation, ColumnPairMapExpectation, MulticolumnMapExpectation))


def _explanation(spec: dict) -> dict:
    """The expectation whose detail explains `spec`'s failure: itself, or the one its meta.explained_by names (a
    cheaper screening expectation, e.g. a count of the repeated ids, names the one that lists them)."""
    return spec.get("meta", {}).get("explained_by", spec)


def _spec_key(spec: dict) -> tuple[str, str | None]:
    return _expectation_key(spec["type"], spec["kwargs"])


def _expectation_key(kind: str, kwargs: dict, canonical: dict[str, str] | None = None) -> tuple[str, str | None]:
    """What tells a suite's expectations apart: each (type, canonical column or columns) appears once per suite."""
    return kind, _canonical_columns(kwargs, canonical or {})


def _canonical_columns(kwargs: dict, canonical: dict[str, str]) -> str | None:
    """An expectation's column, or its list of columns (comma-separated), in canonical names."""
    if "column_list" in kwargs:
        return ", ".join(canonical.get(column, column) for column in kwargs["column_list"])
    column = kwargs.get("column")
    return canonical.get(column, column)


def _outcome(item: Any, spec: dict, suite_name: str, severity: str, canonical: dict[str, str]) -> ExpectationOutcome:
    config, details = item.expectation_config, item.result or {}
    if item.exception_info and item.exception_info.get("raised_exception"):
        observed: Any = f"error: {item.exception_info.get('exception_message')}"
    else:
        observed = details.get("observed_value")
    # A screened expectation that held has no result detail; for an expectation on a column or a list of
    # columns without `mostly`, holding means no row broke it.
    row_level = "column" in spec["kwargs"] or "column_list" in spec["kwargs"]
    holds_for_every_row = item.success and row_level and "mostly" not in spec["kwargs"]
    unexpected = details.get("unexpected_count", 0 if holds_for_every_row else None)
    return ExpectationOutcome(
        suite=suite_name, severity=severity, expectation=config.type,
        column=_canonical_columns(config.kwargs, canonical), success=bool(item.success), unexpected_count=unexpected,
        sample_values=_jsonable(details.get("partial_unexpected_list") or [])[:SAMPLE_SIZE],
        observed_value=_jsonable(observed), reason=spec.get("meta", {}).get("reason"))


def _jsonable(value: Any) -> Any:
    """`value` as JSON that PostgreSQL's jsonb takes: other types as text, infinities and NaN as strings."""
    return json.loads(json.dumps(value, default=str), parse_constant=str)


def validate_source_contract(engine: Engine, mapping: SourceMapping, config: ValidationConfig,
                             docs: DataDocs | None) -> list[ExpectationOutcome]:
    """Contract of the source table; raises ValidationFailedError naming the broken expectations."""
    with engine.connect() as connection:
        previous = last_successful_run(connection)
    min_rows = 1
    if previous is not None and previous.rows_extracted:
        min_rows = max(1, math.ceil(previous.rows_extracted * (1 - config.max_row_count_drop)))
    schema, _, table = mapping.table.rpartition(".")
    outcomes = run_suite(engine, suite_name="source_contract", schema=schema or "public", table=table,
                         parameters={"min_rows": min_rows}, docs=docs,
                         rename={name: column for name, column in mapping.columns.items()})
    for outcome in outcomes:
        outcome.action = "stopped" if not outcome.success else "none"
    return outcomes


def raise_on_contract_failures(outcomes: list[ExpectationOutcome], where: str) -> None:
    failed = [outcome for outcome in outcomes if not outcome.success]
    if failed:
        raise ValidationFailedError(
            f"{where} breaks the data contract; nothing was published. "
            + "; ".join(outcome.describe() for outcome in failed))


def row_parameters(config: ValidationConfig, as_of: date) -> dict[str, Any]:
    return {"min_birth_year": as_of.year - config.max_age, "max_birth_year": as_of.year - config.min_age,
            "earliest_enrolment": config.earliest_enrolment.isoformat(), "as_of": as_of.isoformat()}


def validate_rows(engine: Engine, *, run_id: int, recipe: Recipe, config: ValidationConfig, as_of: date,
                  docs: DataDocs | None, extracted: int | None = None) -> ValidationReport:
    """Row-level suite on the extract, and the quarantine of the failing customers the recipe does not keep
    (quarantine_rows, which runs the suite). `extracted` is the extract's row count when the caller knows it
    (else it is counted)."""
    duplicates, outcomes = quarantine_rows(engine, run_id=run_id, recipe=recipe, config=config, as_of=as_of,
                                           suite=lambda: run_suite(
                                               engine, suite_name="source_rows", schema="segmentation_work",
                                               table="customers_extract", parameters=row_parameters(config, as_of),
                                               docs=docs))
    with engine.connect() as connection:
        quarantined = int(connection.scalar(sa.text(
            "SELECT count(*) FROM segmentation.quarantined_customers WHERE run_id = :run_id"), {"run_id": run_id}))
        rows = int(extracted if extracted is not None else connection.scalar(sa.text(
            "SELECT count(*) FROM segmentation_work.customers_extract")))
    checks = quarantining_checks(recipe)
    for outcome in outcomes:
        if outcome.success:
            continue
        if outcome.reason in checks and not checks[outcome.reason]:
            outcome.action = "imputed" if outcome.reason == "missing_income" else "kept"
        else:
            outcome.action = "quarantined"
    report = ValidationReport(outcomes, quarantined, duplicates, rows)
    share = report.quarantined / max(report.extracted, 1)
    if share > config.max_quarantine_share:
        reasons = _quarantine_reason_counts(engine, run_id)
        raise ValidationFailedError(
            f"{report.quarantined} of {report.extracted} customers ({share:.1%}) failed row-level checks, above the "
            f"allowed {config.max_quarantine_share:.1%}; nothing was published. Reasons: {reasons}")
    return report


def quarantining_checks(recipe: Recipe) -> dict[str, bool]:
    """For each row-level reason, whether the recipe quarantines the customers it finds (flags that are not
    0 or 1 always are)."""
    checks = {reason: recipe.row_checks[check] == "quarantine" for reason, check in REASON_CHECKS.items()}
    return checks | {"missing_income": recipe.missing_values.get("income", "quarantine") == "quarantine",
                     "flag_not_0_or_1": True}


def quarantine_rows(engine: Engine, *, run_id: int, recipe: Recipe, config: ValidationConfig, as_of: date,
                    suite: Callable[[], list[ExpectationOutcome]] | None = None,
                    ) -> tuple[int, list[ExpectationOutcome]]:
    """The set-based quarantine over the extract (sql/validation/); returns how many customers repeat an
    earlier customer's record, and the outcomes of `suite` (GX's row-level suite; none without it).

    Two jobs at once: the search for repeated records, and the row checks, which with a suite run after it
    and evaluate only the checks of the reasons whose expectations failed (they mirror the suite, nulls
    included: a check whose expectations held has no customer to find; at ten million customers every
    check cost about as much as the suite), none when every expectation held. Then the repeated records the
    policy does not keep join the quarantine (after the checks, so a customer found by both lists the
    checks' reasons first).
    """
    quarantining = quarantining_checks(recipe)

    def suite_then_row_checks() -> list[ExpectationOutcome]:
        outcomes = suite() if suite is not None else []
        failing = {outcome.reason for outcome in outcomes if not outcome.success}
        enabled = {f"check_{reason}": quarantines and (suite is None or reason in failing)
                   for reason, quarantines in quarantining.items()}
        if any(enabled.values()):
            # Over ranges of the extract's pages at once (the search for repeated records may be over by now).
            execute_by_page_ranges(engine, EXTRACT_TABLE, read_sql("validation/quarantine_rows.sql"), {
                "run_id": run_id, "as_of": as_of, "earliest_enrolment": config.earliest_enrolment,
                "min_age": config.min_age, "max_age": config.max_age, **enabled}, PARALLEL_PARTS)
        return outcomes

    with engine.begin() as connection:
        def find_repeated_records() -> None:
            driver_connection(connection).execute(read_sql("validation/duplicate_groups.sql"), {
                "candidate_ids": candidate_duplicate_ids(engine).tolist()}, prepare=False)

        outcomes, _ = concurrently(suite_then_row_checks, find_repeated_records)
        duplicates = int(connection.exec_driver_sql(read_sql("validation/quarantine_duplicates.sql"), {
            "run_id": run_id, "duplicates": recipe.duplicates}).scalar_one())
        # The features' anti-join with this run's quarantine is planned on these statistics: they must know
        # this run's customers (a few percent of a table that grows run by run).
        analyze_for_planning(connection, "segmentation.quarantined_customers")
        return duplicates, outcomes


def _quarantine_reason_counts(engine: Engine, run_id: int) -> dict[str, int]:
    with engine.connect() as connection:
        rows = connection.execute(sa.text(
            "SELECT split_part(reason, ':', 1), count(*) FROM segmentation.quarantined_customers, "
            "unnest(reasons) AS reason WHERE run_id = :run_id GROUP BY 1 ORDER BY 2 DESC"), {"run_id": run_id})
        return {reason: int(count) for reason, count in rows}


def validate_features(engine: Engine, docs: DataDocs | None) -> list[ExpectationOutcome]:
    outcomes = run_suite(engine, suite_name="features", schema="segmentation_work", table="customer_features",
                         parameters={}, docs=docs)
    for outcome in outcomes:
        outcome.action = "stopped" if not outcome.success else "none"
    return outcomes


def store_outcomes(engine: Engine, run_id: int, outcomes: list[ExpectationOutcome]) -> None:
    if not outcomes:
        return
    rows = []
    positions: dict[str, int] = {}
    for outcome in outcomes:
        positions[outcome.suite] = positions.get(outcome.suite, 0) + 1
        data = asdict(outcome)
        rows.append({"run_id": run_id, "suite": outcome.suite, "severity": outcome.severity,
                     "expectation": outcome.expectation, "column_name": outcome.column, "success": outcome.success,
                     "unexpected_count": outcome.unexpected_count,
                     "sample_values": json.dumps(data["sample_values"]),
                     "observed_value": json.dumps(data["observed_value"]), "action": outcome.action,
                     "position": positions[outcome.suite]})
    with engine.begin() as connection:
        connection.execute(sa.text(
            "INSERT INTO segmentation.validation_results (run_id, suite, severity, expectation, column_name, success, "
            "unexpected_count, sample_values, observed_value, action, position) VALUES (:run_id, :suite, :severity, "
            ":expectation, :column_name, :success, :unexpected_count, CAST(:sample_values AS jsonb), "
            "CAST(:observed_value AS jsonb), :action, :position) "
            "ON CONFLICT (run_id, suite, position) DO NOTHING"), rows)
