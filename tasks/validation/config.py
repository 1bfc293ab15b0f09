"""The data contract's thresholds, a run's parameters (apart, so that the suites and the quarantine both
read them without importing each other)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta


@dataclass(frozen=True)
class ValidationConfig:
    """Thresholds of the data contract (run parameters)."""

    max_quarantine_share: float = 0.05
    max_row_count_drop: float = 0.5
    earliest_enrolment: date = date(1990, 1, 1)
    min_age: int = 16
    max_age: int = 110
    future_order_tolerance: timedelta = timedelta(days=1)  # clocks and time zones of the shop's systems
