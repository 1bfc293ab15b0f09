"""Extract from orders: keep the per-customer-per-day rollup of the orders table up to date, then summarise
each customer's purchase days as of the run's day (RFM) into segmentation_work.customer_rfm.

The rollup (segmentation_work.order_days) is kept from run to run. A run rolls up again, whole, every
customer with an order row ingested since the last run (the mapping's ingestion column, less a lookback for
rows that committed after the last run read the table), so a night's work follows the new orders, and late, corrected or updated orders
count once. A different orders table or business time zone, or `full_refresh`, rebuilds it from every order
(as dbt's --full-refresh does). Orders deleted from the source are seen only by a full refresh.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from psycopg import sql as pgsql
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.engine import Engine

from tasks.db.sql import analyze_for_planning, identifier, indexes_built_afterwards, run_sql_file, table_columns
from tasks.errors import ConfigurationError, NoSourceDataError

DEFAULT_ORDERS_TABLE = "source.orders"
ORDER_COLUMNS = ("customer_id", "ordered_at", "amount", "order_id", "channel", "category", "quantity",
                 "ingested_at")
REQUIRED_ORDER_COLUMNS = ("customer_id", "ordered_at", "amount", "ingested_at")
RFM_TABLE = "segmentation_work.customer_rfm"
ROLLUP_TABLE = "segmentation_work.order_days"


class OrdersMapping(BaseModel):
    """Where the orders are: a table and which of its columns holds each canonical column."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    table: str = DEFAULT_ORDERS_TABLE
    columns: dict[str, str] = Field(default_factory=lambda: {column: column for column in ORDER_COLUMNS})
    lookback_minutes: int = Field(60, ge=0, le=7 * 24 * 60, description=(
        "rows ingested this long before the last refresh are read again: an order whose transaction committed "
        "after that refresh read the table is not missed"))

    def column(self, canonical: str) -> pgsql.Identifier:
        if canonical not in self.columns:
            raise ConfigurationError(f"orders mapping for {self.table}: no column given for {canonical} "
                                     f"(required: {', '.join(REQUIRED_ORDER_COLUMNS)})")
        return identifier(self.columns[canonical], "mapped orders column")

    def check(self) -> None:
        unknown = sorted(set(self.columns) - set(ORDER_COLUMNS))
        if unknown:
            raise ConfigurationError(f"orders mapping for {self.table}: unknown canonical columns "
                                     f"{', '.join(unknown)} (known: {', '.join(ORDER_COLUMNS)})")
        for canonical in REQUIRED_ORDER_COLUMNS:
            self.column(canonical)


@dataclass(frozen=True)
class OrderChecks:
    """Row-level checks of orders: a row failing one is quarantined and left out of the rollup."""

    earliest_order: date = date(1970, 1, 1)  # implausible_date: before it
    max_amount: float = 1e9  # implausible_amount: above it, either sign


@dataclass(frozen=True)
class RollupRefresh:
    full: bool
    orders_read: int
    watermark: datetime | None


@dataclass(frozen=True)
class OrdersExtract:
    customers: int
    source_table: str
    snapshot_date: date
    refresh: RollupRefresh


def check_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ConfigurationError(f"business time zone {name!r} is not an IANA time zone "
                                 "(e.g. UTC, Europe/Berlin, America/New_York)") from error
    return name


def purchase_day(mapping: OrdersMapping, column_type: str) -> pgsql.Composable:
    """The calendar day of an order in the business time zone: a time with a zone is converted to the
    zone's wall clock; a date, or a time without a zone, is taken as the business zone's already."""
    ordered_at = pgsql.SQL("o.{}").format(mapping.column("ordered_at"))
    if column_type.startswith("timestamp with time zone"):
        return pgsql.SQL("({} AT TIME ZONE {})::date").format(ordered_at, pgsql.Placeholder("timezone"))
    return pgsql.SQL("{}::date").format(ordered_at)


def refresh_order_days(engine: Engine, mapping: OrdersMapping, timezone: str, *, full_refresh: bool = False,
                       checks: OrderChecks | None = None, run_id: int | None = None) -> RollupRefresh:
    """Bring segmentation_work.order_days up to date with the orders table (one snapshot of it). Rows that
    break a row-level check stay out of the rollup; with `run_id`, those among the rows rolled up are
    recorded in segmentation_restricted.quarantined_orders for the run."""
    checks = checks or OrderChecks()
    # max_amount bound as numeric, the amounts' type: against a float, every amount read would be converted.
    bounds = {"earliest_order": checks.earliest_order, "max_amount": Decimal(str(checks.max_amount))}
    mapping.check()
    check_timezone(timezone)
    with engine.connect().execution_options(isolation_level="REPEATABLE READ") as connection, connection.begin():
        types = {column.name: column.type for column in table_columns(connection, mapping.table)}
        if not types:
            raise NoSourceDataError(f"the orders table {mapping.table} does not exist: load orders with "
                                    "`segments load-orders` or point the mapping at your orders table")
        missing = [canonical for canonical in REQUIRED_ORDER_COLUMNS if mapping.columns[canonical] not in types]
        if missing:
            raise ConfigurationError(f"the orders table {mapping.table} has no column "
                                     + ", ".join(f"{mapping.columns[c]} (for {c})" for c in missing))
        parts = {name: mapping.column(name) for name in ("customer_id", "ordered_at", "amount", "ingested_at")}
        orders = identifier(mapping.table, "orders table")
        day = purchase_day(mapping, types[mapping.columns["ordered_at"]])
        state = run_sql_file(connection, "extract/order_rollup_state.sql", {"source_table": mapping.table}).first()
        full = full_refresh or state is None or state.business_timezone != timezone or state.watermark is None
        # Rows ingested after the watermark, and those ingested shortly before the last refresh: a row whose
        # transaction committed after that refresh's snapshot was invisible to it, whatever its time.
        since = None if full else min(state.watermark,
                                      state.refreshed_at - timedelta(minutes=mapping.lookback_minutes))
        read = run_sql_file(connection, "extract/orders_watermark.sql", {"since": since},
                            orders=orders, ingested_at=parts["ingested_at"]).one()
        if full:
            run_sql_file(connection, "extract/order_days_clear.sql")
            run_sql_file(connection, "extract/order_days_rebuild_plan.sql")
            # The primary key built once from the rows in key order, not one insertion per row.
            with indexes_built_afterwards(connection, ROLLUP_TABLE):
                run_sql_file(connection, "extract/order_days_rebuild.sql", {"timezone": timezone, **bounds},
                             orders=orders, purchase_day=day,
                             **{k: v for k, v in parts.items() if k != "ingested_at"})
            if run_id is not None:
                run_sql_file(connection, "extract/quarantine_orders.sql", {"run_id": run_id, **bounds},
                             orders=orders, ordered_at=parts["ordered_at"], amount=parts["amount"],
                             touched=pgsql.SQL(""))
        elif read.orders_read:
            run_sql_file(connection, "extract/touched_customers.sql", {"since": since}, orders=orders,
                         customer_id=parts["customer_id"], ingested_at=parts["ingested_at"])
            # Its size for the planner: unanalysed, the joins below took it for the larger side.
            analyze_for_planning(connection, "touched_customers")
            run_sql_file(connection, "extract/order_days_forget_touched.sql")
            run_sql_file(connection, "extract/order_days_refresh_touched.sql", {"timezone": timezone, **bounds},
                         orders=orders, purchase_day=day,
                         **{k: v for k, v in parts.items() if k != "ingested_at"})
            if run_id is not None:
                run_sql_file(connection, "extract/quarantine_orders.sql", {"run_id": run_id, **bounds},
                             orders=orders, ordered_at=parts["ordered_at"], amount=parts["amount"],
                             touched=pgsql.SQL("JOIN touched_customers AS t ON t.customer_id = o.{}").format(
                                 parts["customer_id"]))
        run_sql_file(connection, "extract/forget_other_rollup_states.sql", {"source_table": mapping.table})
        run_sql_file(connection, "extract/upsert_order_rollup_state.sql", {
            "source_table": mapping.table, "business_timezone": timezone, "watermark": read.watermark,
            "orders_read": read.orders_read, "full_refresh": full})
        analyze_for_planning(connection, ROLLUP_TABLE)
    return RollupRefresh(full=full, orders_read=int(read.orders_read), watermark=read.watermark)


def summarise_customers(engine: Engine, as_of: date) -> int:
    """Fill segmentation_work.customer_rfm as of `as_of` from the rollup; returns how many customers."""
    with engine.begin() as connection:
        run_sql_file(connection, "extract/customer_rfm_clear.sql")
        customers = run_sql_file(connection, "extract/customer_rfm.sql", {"as_of": as_of}).rowcount
        analyze_for_planning(connection, RFM_TABLE)
    return int(customers)


def latest_purchase_day(engine: Engine) -> date | None:
    with engine.connect() as connection:
        return run_sql_file(connection, "extract/latest_purchase_day.sql").scalar()


def extract_orders(engine: Engine, mapping: OrdersMapping, timezone: str, as_of: date | None = None, *,
                   full_refresh: bool = False, checks: OrderChecks | None = None,
                   run_id: int | None = None) -> OrdersExtract:
    """Refresh the rollup, then summarise every customer as of `as_of` (default: the latest purchase day)."""
    refresh = refresh_order_days(engine, mapping, timezone, full_refresh=full_refresh, checks=checks,
                                 run_id=run_id)
    day = as_of or latest_purchase_day(engine)
    if day is None:
        raise NoSourceDataError(f"the orders table {mapping.table} has no orders: load some with "
                                "`segments load-orders PATH`")
    customers = summarise_customers(engine, day)
    if customers == 0:
        raise NoSourceDataError(f"no customer of {mapping.table} has an order on or before {day}")
    return OrdersExtract(customers, mapping.table, day, refresh)


def latest_order_currency(engine: Engine) -> str:
    """The currency of the latest orders file loaded (USD when the orders came from elsewhere)."""
    with engine.connect() as connection:
        return run_sql_file(connection, "extract/latest_order_currency.sql").scalar() or "USD"
