"""What validation found: each expectation's outcome, a stage's report, and where they are kept
(segmentation.validation_results) or acted on (a broken contract stops the run)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from tasks.db.sql import sql_file
from tasks.errors import ValidationFailedError


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


def raise_on_contract_failures(outcomes: list[ExpectationOutcome], where: str) -> None:
    failed = [outcome for outcome in outcomes if not outcome.success]
    if failed:
        raise ValidationFailedError(
            f"{where} breaks the data contract; nothing was published. "
            + "; ".join(outcome.describe() for outcome in failed))


def store_outcomes(engine: Engine, run_id: int, outcomes: list[ExpectationOutcome]) -> None:
    """Keep a run's outcomes in segmentation.validation_results, numbered in their suite's order."""
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
        connection.exec_driver_sql(sql_file("validation/store_outcomes.sql"), rows)
