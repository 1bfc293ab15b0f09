"""Validate: Great Expectations suites (expectations/*.json) run in PostgreSQL, two severities.

- `source_contract` runs on the source table (mapped names): a failure stops the run before anything
  is written, with the expectation, the column and sample values in the error.
- `source_rows` runs on the run's extract: customers that break a row-level expectation are
  quarantined (segmentation_restricted.quarantined_customers) unless the recipe keeps such rows.
- `features` runs on the computed features: a failure stops the run.

How a suite runs is tasks/validation/gx_runner.py; the quarantine, tasks/validation/quarantine.py.
"""

from __future__ import annotations

import math
from datetime import date
from typing import Any

from sqlalchemy.engine import Engine

from tasks.db.sql import run_sql_file
from tasks.errors import ValidationFailedError
from tasks.extract.customers import SourceMapping
from tasks.features.recipes import FEATURE_SOURCE_COLUMNS, Recipe
from tasks.pipeline.record import last_successful_run
from tasks.validation.config import ValidationConfig
from tasks.validation.data_docs import DataDocs
from tasks.validation.gx_runner import run_suite
from tasks.validation.quarantine import (
    quarantine_reason_counts,
    quarantine_rows,
    quarantined_count,
    quarantining_checks,
)
from tasks.validation.results import ExpectationOutcome, ValidationReport


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
                         rename={name: column for name, column in mapping.columns.items()},
                         columns=set(mapping.columns))  # a column the mapping leaves out is not checked
    for outcome in outcomes:
        outcome.action = "stopped" if not outcome.success else "none"
    return outcomes


def row_parameters(config: ValidationConfig, as_of: date) -> dict[str, Any]:
    return {"min_birth_year": as_of.year - config.max_age, "max_birth_year": as_of.year - config.min_age,
            "earliest_enrolment": config.earliest_enrolment.isoformat(), "as_of": as_of.isoformat()}


def validate_rows(engine: Engine, *, run_id: int, recipe: Recipe, config: ValidationConfig, as_of: date,
                  docs: DataDocs | None, extracted: int | None = None,
                  columns: set[str] | None = None) -> ValidationReport:
    """Row-level suite on the extract, and the quarantine of the failing customers the recipe does not keep
    (quarantine_rows, which runs the suite). `extracted` is the extract's row count when the caller knows it
    (else it is counted). `columns`: the canonical columns the source mapping names (None: all); the others
    are NULL in the extract, and neither checked nor a reason to quarantine."""
    duplicates, outcomes = quarantine_rows(engine, run_id=run_id, recipe=recipe, config=config, as_of=as_of,
                                           suite=lambda: run_suite(
                                               engine, suite_name="source_rows", schema="segmentation_work",
                                               table="customers_extract", parameters=row_parameters(config, as_of),
                                               docs=docs, columns=columns), columns=columns)
    with engine.connect() as connection:
        quarantined = quarantined_count(connection, run_id)
        rows = int(extracted if extracted is not None
                   else run_sql_file(connection, "validation/extract_rows.sql").scalar_one())
    checks = quarantining_checks(recipe, columns)
    for outcome in outcomes:
        if outcome.success or outcome.error is not None:  # not evaluated: the stage raises
            continue
        if outcome.reason in checks and not checks[outcome.reason]:
            outcome.action = "imputed" if outcome.reason == "missing_income" else "kept"
        else:
            outcome.action = "quarantined"
    report = ValidationReport(outcomes, quarantined, duplicates, rows)
    share = report.quarantined / max(report.extracted, 1)
    if share > config.max_quarantine_share:
        reasons = quarantine_reason_counts(engine, run_id)
        raise ValidationFailedError(
            f"{report.quarantined} of {report.extracted} customers ({share:.1%}) failed row-level checks, above the "
            f"allowed {config.max_quarantine_share:.1%}; nothing was published. Reasons: {reasons}")
    return report


def validate_features(engine: Engine, docs: DataDocs | None,
                      mapping: SourceMapping | None = None) -> list[ExpectationOutcome]:
    """The features suite; with a mapping, on the features whose source columns it names (the others are
    NULL, and no recipe run on that mapping reads them: SourceMapping.select_list)."""
    columns = None if mapping is None else {feature for feature, needs in FEATURE_SOURCE_COLUMNS.items()
                                            if set(needs) <= set(mapping.columns)}
    outcomes = run_suite(engine, suite_name="features", schema="segmentation_work", table="customer_features",
                         parameters={}, docs=docs, columns=columns)
    for outcome in outcomes:
        outcome.action = "stopped" if not outcome.success else "none"
    return outcomes
