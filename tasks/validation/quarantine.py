"""The quarantine of the run's extract (segmentation_restricted.quarantined_customers): the customers who
break a row-level check the recipe quarantines for, and the repeated records its duplicate policy does not
keep, each with its reasons and raw record. Set-based, in sql/validation/."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tasks.db.parallel import PARALLEL_PARTS, concurrently
from tasks.db.sql import (
    analyze_for_planning,
    driver_connection,
    execute_by_page_ranges,
    run_sql_file,
    sql_file,
)
from tasks.extract.customers import EXTRACT_TABLE
from tasks.features.recipes import Recipe
from tasks.validation.config import ValidationConfig
from tasks.validation.duplicates import candidate_duplicate_ids
from tasks.validation.results import ExpectationOutcome

# Which recipe row check governs each row-level reason.
REASON_CHECKS = {
    "implausible_birth_year": "implausible_birth_year",
    "unknown_education": "unknown_category",
    "unknown_marital_status": "unknown_category",
    "negative_amount": "negative_amount",
    "enrolment_out_of_range": "enrolment_out_of_range",
}


# The extract's columns each row-level reason reads (expectations/source_rows.json): a reason none of whose
# columns the source mapping names has only NULLs to find, which are no fault of the customer.
REASON_COLUMNS = {
    "missing_income": ("income",),
    "implausible_birth_year": ("birth_year",),
    "unknown_education": ("education",),
    "unknown_marital_status": ("marital_status",),
    "negative_amount": ("income", "spend_wines", "spend_fruits", "spend_meat", "spend_fish", "spend_sweets",
                        "spend_gold", "kids_home", "teens_home", "recency_days", "purchases_deals", "purchases_web",
                        "purchases_catalog", "purchases_store", "web_visits_month"),
    "enrolment_out_of_range": ("enrolled_on",),
    "flag_not_0_or_1": ("accepted_cmp1", "accepted_cmp2", "accepted_cmp3", "accepted_cmp4", "accepted_cmp5",
                        "response", "complain"),
}


def quarantining_checks(recipe: Recipe, columns: set[str] | None = None) -> dict[str, bool]:
    """For each row-level reason, whether the recipe quarantines the customers it finds (flags that are not
    0 or 1 always are). `columns`: the canonical columns the source mapping names (None: all); a reason that
    reads none of them quarantines no one (the income policy applies only to a mapped income)."""
    checks = {reason: recipe.row_checks[check] == "quarantine" for reason, check in REASON_CHECKS.items()}
    checks |= {"missing_income": recipe.missing_values.get("income", "quarantine") == "quarantine",
               "flag_not_0_or_1": True}
    if columns is None:
        return checks
    return {reason: quarantines and not columns.isdisjoint(REASON_COLUMNS[reason])
            for reason, quarantines in checks.items()}


def quarantine_rows(engine: Engine, *, run_id: int, recipe: Recipe, config: ValidationConfig, as_of: date,
                    suite: Callable[[], list[ExpectationOutcome]] | None = None,
                    columns: set[str] | None = None) -> tuple[int, list[ExpectationOutcome]]:
    """The set-based quarantine over the extract (sql/validation/); returns how many customers repeat an
    earlier customer's record, and the outcomes of `suite` (GX's row-level suite; none without it).

    Two jobs at once: the search for repeated records, and the row checks, which with a suite run after it
    and evaluate only the checks of the reasons whose expectations failed (they mirror the suite, nulls
    included: a check whose expectations held has no customer to find; at ten million customers every
    check cost about as much as the suite), none when every expectation held. Then the repeated records the
    policy does not keep join the quarantine (after the checks, so a customer found by both lists the
    checks' reasons first).
    """
    quarantining = quarantining_checks(recipe, columns)

    def suite_then_row_checks() -> list[ExpectationOutcome]:
        outcomes = suite() if suite is not None else []
        failing = {outcome.reason for outcome in outcomes if not outcome.success}
        enabled = {f"check_{reason}": quarantines and (suite is None or reason in failing)
                   for reason, quarantines in quarantining.items()}
        if any(enabled.values()):
            # Over ranges of the extract's pages at once (the search for repeated records may be over by now).
            execute_by_page_ranges(engine, EXTRACT_TABLE, sql_file("validation/quarantine_rows.sql"), {
                "run_id": run_id, "as_of": as_of, "earliest_enrolment": config.earliest_enrolment,
                "min_age": config.min_age, "max_age": config.max_age, **enabled}, PARALLEL_PARTS)
        return outcomes

    with engine.begin() as connection:
        def find_repeated_records() -> None:
            # Never prepared, so that the candidates' array is a constant of the plan (see the SQL file).
            driver_connection(connection).execute(sql_file("validation/duplicate_groups.sql"), {
                "candidate_ids": candidate_duplicate_ids(engine).tolist()}, prepare=False)

        outcomes, _ = concurrently(suite_then_row_checks, find_repeated_records)
        duplicates = int(run_sql_file(connection, "validation/quarantine_duplicates.sql", {
            "run_id": run_id, "duplicates": recipe.duplicates}).scalar_one())
        # The features' anti-join with this run's quarantine is planned on these statistics: they must know
        # this run's customers (a few percent of a table that grows run by run).
        analyze_for_planning(connection, "segmentation_restricted.quarantined_customers")
        return duplicates, outcomes


def quarantined_count(connection: sa.Connection, run_id: int) -> int:
    """How many customers the run has quarantined."""
    return int(run_sql_file(connection, "validation/quarantined_count.sql", {"run_id": run_id}).scalar_one())


def quarantine_reason_counts(engine: Engine, run_id: int) -> dict[str, int]:
    """How many of the run's quarantined customers each reason names (a duplicate's reason without its id),
    most first."""
    with engine.connect() as connection:
        rows = run_sql_file(connection, "validation/quarantine_reason_counts.sql", {"run_id": run_id})
        return {reason: int(count) for reason, count in rows}
