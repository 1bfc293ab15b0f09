"""What validation found: each expectation's outcome, a stage's report, and where they are kept
(segmentation_restricted.validation_results) or acted on (a broken contract stops the run; an expectation
that could not be evaluated stops it too, as an error rather than a failed check)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from tasks.db.sql import sql_file
from tasks.db.transient import TRANSIENT_MESSAGE
from tasks.errors import ExpectationsNotEvaluatedError, ValidationFailedError


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
    error: str | None = None  # why GX could not evaluate it (then `success` is False, but it did not fail)

    def describe(self) -> str:
        where = f" on column {self.column!r}" if self.column else ""
        if self.error is not None:  # GX's message goes on with the failed query: the cause is enough here
            cause = self.error.split("\n[SQL:")[0]
            return f"{self.suite}.{self.expectation}{where} could not be evaluated: {cause[:300]}"
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
        return [outcome for outcome in self.outcomes if not outcome.success and outcome.error is None]

    def markdown(self) -> str:
        """Summary for the Prefect run: counts, then each failed expectation and what the run did."""
        passed = sum(1 for outcome in self.outcomes if outcome.success)
        lines = ["# Validation", "",
                 f"- {passed} of {len(self.outcomes)} expectations held",
                 f"- {self.quarantined} of {self.extracted} customers quarantined "
                 "(segmentation_restricted.quarantined_customers)",
                 f"- {self.duplicates} customers repeat another's record in every column but the id"]
        if self.docs_index is not None:
            lines.append(f"- Data Docs: {self.docs_index}")
        if self.failures:
            lines += ["", "| suite | expectation | column | unexpected | sample | action |", "|---|---|---|---|---|---|"]
            lines += [f"| {o.suite} | {o.expectation} | {o.column or ''} | {o.unexpected_count or ''} | "
                      f"{', '.join('NULL' if v is None else str(v) for v in o.sample_values)} | {o.action} |" for o in self.failures]
        return "\n".join(lines) + "\n"


def raise_on_unevaluated(outcomes: list[ExpectationOutcome], where: str) -> None:
    """Raise ExpectationsNotEvaluatedError when GX could not evaluate some of `outcomes` (their queries failed):
    the data was not checked, so the run cannot go on, and a dropped connection is worth a retry."""
    unevaluated = [outcome for outcome in outcomes if outcome.error is not None]
    if unevaluated:
        raise ExpectationsNotEvaluatedError(
            f"{len(unevaluated)} expectations on {where} could not be evaluated; nothing was published. "
            + "; ".join(outcome.describe() for outcome in unevaluated),
            transient=all(TRANSIENT_MESSAGE.search(outcome.error or "") for outcome in unevaluated))


def raise_on_contract_failures(outcomes: list[ExpectationOutcome], where: str) -> None:
    """Raise ValidationFailedError when an expectation failed (naming those that could not be evaluated too, as a
    missing column's type cannot be); with none failed but some not evaluated, ExpectationsNotEvaluatedError."""
    if not any(outcome.error is None and not outcome.success for outcome in outcomes):
        raise_on_unevaluated(outcomes, where)
    failed = [outcome for outcome in outcomes if not outcome.success]
    if failed:
        raise ValidationFailedError(
            f"{where} breaks the data contract; nothing was published. "
            + "; ".join(outcome.describe() for outcome in failed))


def store_outcomes(engine: Engine, run_id: int, outcomes: list[ExpectationOutcome]) -> None:
    """Keep a run's outcomes in segmentation_restricted.validation_results, numbered in their suite's order
    (one that could not be evaluated with success NULL and its error)."""
    if not outcomes:
        return
    rows = []
    positions: dict[str, int] = {}
    for outcome in outcomes:
        positions[outcome.suite] = positions.get(outcome.suite, 0) + 1
        data = asdict(outcome)
        rows.append({"run_id": run_id, "suite": outcome.suite, "severity": outcome.severity,
                     "expectation": outcome.expectation, "column_name": outcome.column,
                     "success": None if outcome.error is not None else outcome.success, "error": outcome.error,
                     "unexpected_count": outcome.unexpected_count,
                     "sample_values": json.dumps(data["sample_values"]),
                     "observed_value": json.dumps(data["observed_value"]), "action": outcome.action,
                     "position": positions[outcome.suite]})
    with engine.begin() as connection:
        connection.exec_driver_sql(sql_file("validation/store_outcomes.sql"), rows)
