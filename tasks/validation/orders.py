"""Validate an orders source: its contract (GX, on the orders table), the customers set aside, the features.

- `orders_contract` runs on the orders table (mapped names): every order has a customer, a time and an
  amount, amounts are finite, order ids unique, none dated after the run's start beyond the tolerance. A
  failure stops the run before anything is written.
- Customers whose refunds exceed their purchases are quarantined (segmentation_restricted.quarantined_customers,
  reason negative_net_spend), within the run's quarantine share.
- `order_features` runs on the computed features: a failure stops the run.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy.engine import Engine

from tasks.db.sql import run_sql_file
from tasks.errors import ValidationFailedError
from tasks.extract.orders import OrdersMapping
from tasks.validation.config import ValidationConfig
from tasks.validation.data_docs import DataDocs
from tasks.validation.gx_runner import run_suite
from tasks.validation.quarantine import quarantine_reason_counts, quarantined_count
from tasks.validation.results import ExpectationOutcome, ValidationReport


def validate_orders_contract(engine: Engine, mapping: OrdersMapping, config: ValidationConfig,
                             docs: DataDocs | None) -> list[ExpectationOutcome]:
    """Contract of the orders table; the caller raises on a failure (raise_on_contract_failures)."""
    mapping.check()
    schema, _, table = mapping.table.rpartition(".")
    # A day bound (the expectation compares dates): midnight after the tolerance's last day.
    latest = (datetime.now(timezone.utc) + config.future_order_tolerance).date() + timedelta(days=1)
    outcomes = run_suite(engine, suite_name="orders_contract", schema=schema or "public", table=table,
                         parameters={"latest_order_day": latest.isoformat()}, docs=docs,
                         rename=dict(mapping.columns), columns=set(mapping.columns))
    for outcome in outcomes:
        outcome.action = "stopped" if not outcome.success else "none"
    return outcomes


def quarantine_order_customers(engine: Engine, *, run_id: int, config: ValidationConfig,
                               customers: int) -> ValidationReport:
    """Set aside the customers with a negative net spend; fail above the quarantine share, of the customers
    or of the orders the run rolled up (the extract quarantined those that break a row-level check)."""
    with engine.begin() as connection:
        run_sql_file(connection, "validation/quarantine_negative_spend.sql", {"run_id": run_id})
    with engine.connect() as connection:
        quarantined = quarantined_count(connection, run_id)
        orders = run_sql_file(connection, "validation/quarantined_orders.sql", {"run_id": run_id}).one()
    if orders.quarantined and orders.quarantined / max(orders.read, 1) > config.max_quarantine_share:
        raise ValidationFailedError(
            f"{orders.quarantined} of the {orders.read} orders rolled up ({orders.quarantined / max(orders.read, 1):.1%}) "
            f"broke row-level checks, above the allowed {config.max_quarantine_share:.1%}; nothing was published. "
            f"Reasons: {orders.reasons}")
    report = ValidationReport([], quarantined, 0, customers)
    share = quarantined / max(customers, 1)
    if share > config.max_quarantine_share:
        raise ValidationFailedError(
            f"{quarantined} of {customers} customers ({share:.1%}) were set aside, above the allowed "
            f"{config.max_quarantine_share:.1%}; nothing was published. Reasons: "
            f"{quarantine_reason_counts(engine, run_id)}")
    return report


def validate_order_features(engine: Engine, docs: DataDocs | None) -> list[ExpectationOutcome]:
    outcomes = run_suite(engine, suite_name="order_features", schema="segmentation_work",
                         table="customer_features", parameters={}, docs=docs)
    for outcome in outcomes:
        outcome.action = "stopped" if not outcome.success else "none"
    return outcomes
