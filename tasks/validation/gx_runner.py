"""Great Expectations in PostgreSQL: a suite document (expectations/<name>.json) run against a table, its
results turned into ExpectationOutcomes in the pipeline's canonical column names.

GX never sees the password: the URL reaches it through an environment variable it substitutes, and
failing-value samples are bounded (result_format SUMMARY). GX is imported here only when a context is
made (it is slow to import), with our own expectations (tasks/validation/expectations.py).
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from tasks.errors import ConfigurationError
from tasks.settings import PROJECT_ROOT
from tasks.validation.data_docs import DataDocs, keep_on_disk_with_site
from tasks.validation.results import ExpectationOutcome

EXPECTATIONS_DIR = PROJECT_ROOT / "expectations"
GX_URL_VARIABLE = "SEGMENTS_GX_DATABASE_URL"
SAMPLE_SIZE = 5


def load_suite_document(name: str) -> dict:
    return json.loads((EXPECTATIONS_DIR / f"{name}.json").read_text())


def import_gx() -> Any:
    """GX's module, with our expectations registered. Imported on first use only (it is slow to import), or
    ahead of it by a caller with time to spare (`segments run`, while Prefect's server starts)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import great_expectations as gx  # noqa: PLC0415
        from great_expectations.data_context.types import base  # noqa: F401, PLC0415

        import tasks.validation.expectations  # noqa: F401, PLC0415 (registers our expectations with GX)
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    return gx


def gx_context(docs_dir: Path | None) -> tuple[Any, Any]:
    """An ephemeral GX context; with a Data Docs directory, its suites and validation results are kept on
    disk beside it (tasks.validation.data_docs.keep_on_disk_with_site). Returns GX's module and the context."""
    gx = import_gx()
    from great_expectations.data_context.types.base import (  # noqa: PLC0415
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    config = DataContextConfig(store_backend_defaults=InMemoryStoreBackendDefaults())
    if docs_dir is not None:
        keep_on_disk_with_site(config, docs_dir)
    context = gx.get_context(project_config=config, mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return gx, context


def _spec_columns(spec: dict) -> list[str]:
    kwargs = spec["kwargs"]
    return [kwargs["column"]] if "column" in kwargs else list(kwargs.get("column_list", []))


# Our list expectations that check each listed column on its own: on a table without some of the columns,
# they check the others (a uniqueness of columns together is not one of them).
PER_COLUMN_LISTS = ("expect_column_list_values_to_not_be_null", "expect_column_list_values_to_be_between",
                    "expect_column_list_values_to_be_in_set")


def _narrowed_to(spec: dict, columns: set[str]) -> dict | None:
    """The expectation on a table that has only `columns` (canonical names): as it is when it reads only
    those, a required column set or a per-column list narrowed to them, else None (moot)."""
    kwargs = spec["kwargs"]
    if "column_set" in kwargs:
        spec = {**spec, "kwargs": {**kwargs, "column_set": [c for c in kwargs["column_set"] if c in columns]}}
    if set(_spec_columns(spec)) <= columns:
        return spec
    kept = [column for column in kwargs.get("column_list", []) if column in columns]
    if spec["type"] in PER_COLUMN_LISTS and kept:
        return {**spec, "kwargs": {**kwargs, "column_list": kept}}
    return None


def suite_with_columns(gx: Any, document: dict, rename: dict[str, str]) -> Any:
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


def saved_suite(context: Any, suite: Any) -> Any:
    """`suite` in the context's store: the stored one when its expectations are the same (as on every run
    but the first after a change), else `suite`, added in its place. GX's add_or_update would compare each
    expectation with every stored one, in Python, on every run."""
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
              docs: DataDocs | None, rename: dict[str, str] | None = None,
              columns: set[str] | None = None) -> list[ExpectationOutcome]:
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
    if columns is not None:  # the table has only these (canonical) columns: the others' expectations are moot
        document = {**document, "expectations": [
            narrowed for spec in document["expectations"]
            if (narrowed := _narrowed_to(spec, columns)) is not None]}
    severity = document["meta"]["severity"]
    os.environ[GX_URL_VARIABLE] = engine.url.render_as_string(hide_password=False)
    gx, context = gx_context(docs.directory if docs is not None else None)
    source = context.data_sources.add_postgres(name="segments", connection_string="${" + GX_URL_VARIABLE + "}")
    asset = source.add_table_asset(name=f"{schema}.{table}", table_name=table, schema_name=schema)
    batch = asset.add_batch_definition_whole_table("whole table")

    built_resources: list = []  # this suite's validations and suites: the Data Docs pages to (re)build

    def run_checkpoint(name: str, expectations: list[dict], result_format: dict) -> list:
        suite = saved_suite(context, suite_with_columns(
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
    error = evaluation_error(item.exception_info)
    observed: Any = None if error is not None else details.get("observed_value")
    # A screened expectation that held has no result detail; for an expectation on a column or a list of
    # columns without `mostly`, holding means no row broke it.
    row_level = "column" in spec["kwargs"] or "column_list" in spec["kwargs"]
    holds_for_every_row = item.success and row_level and "mostly" not in spec["kwargs"]
    unexpected = details.get("unexpected_count", 0 if holds_for_every_row else None)
    return ExpectationOutcome(
        suite=suite_name, severity=severity, expectation=config.type,
        column=_canonical_columns(config.kwargs, canonical), success=bool(item.success), unexpected_count=unexpected,
        sample_values=_jsonable(details.get("partial_unexpected_list") or [])[:SAMPLE_SIZE],
        observed_value=_jsonable(observed), reason=spec.get("meta", {}).get("reason"), error=error)


def evaluation_error(exception_info: Any) -> str | None:
    """Why GX could not evaluate an expectation (a query of its metrics raised), or None when it could. GX
    gives an expectation's own exception as one record, and the metrics it could not resolve (e.g. when the
    connection dropped) as one record per metric: {metric id: record}."""
    def records(info: Any) -> list[Any]:
        if not info:
            return []
        if hasattr(info, "get") and "raised_exception" in info:
            return [info]
        if hasattr(info, "values"):
            return [record for value in info.values() for record in records(value)]
        if isinstance(info, (list, set, tuple)):
            return [record for value in info for record in records(value)]
        return []

    messages = [str(record.get("exception_message") or "an exception") for record in records(exception_info)
                if record.get("raised_exception")]
    return "; ".join(dict.fromkeys(messages)) or None


def _jsonable(value: Any) -> Any:
    """`value` as JSON that PostgreSQL's jsonb takes: other types as text, infinities and NaN as strings."""
    return json.loads(json.dumps(value, default=str), parse_constant=str)

