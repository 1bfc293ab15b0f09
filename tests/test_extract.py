"""Extract from orders: the daily rollup, kept incrementally, and RFM as the field's libraries define it.

The expected values are the peers' own: lifetimes' tests/test_utils.py (summary_data_from_transaction_data,
freq "D"), PyMC-Marketing's tests/clv/test_utils.py::TestRFM (rfm_summary, include_first_transaction) and
Hardie's CDNOW summary (cdnow_customers_summary_with_transactions.csv as the Lifetimes package ships it:
2,357 customers, calibration end 1997-09-30, time in weeks).
"""

from __future__ import annotations

import csv
import random
from datetime import date, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tasks.extract.orders import OrdersMapping, extract_orders, refresh_order_days, summarise_customers

CDNOW_REFERENCE = Path(__file__).parent / "data" / "cdnow_customers_summary_with_transactions.csv"

# lifetimes tests/test_utils.py large_transaction_level_data_with_monetary_value, and PyMC-Marketing's
# TestRFM.transaction_data: the same, plus a second order of customer 4 on 2015-02-05.
LIFETIMES_TRANSACTIONS = [
    (1, "2015-01-01", 1), (1, "2015-02-06", 2), (2, "2015-01-01", 2), (3, "2015-01-01", 3), (3, "2015-01-02", 1),
    (3, "2015-01-05", 5), (4, "2015-01-16", 6), (4, "2015-02-02", 3), (4, "2015-02-05", 3), (5, "2015-01-16", 3),
    (5, "2015-01-17", 1), (5, "2015-01-18", 8), (6, "2015-02-02", 5),
]
PYMC_TRANSACTIONS = [*LIFETIMES_TRANSACTIONS, (4, "2015-02-05", 6)]
OBSERVATION_END = date(2015, 2, 7)


def insert_orders(engine: Engine, orders: list[tuple], *, ingested_at: datetime | None = None) -> None:
    """Orders as a shop's own job writes them (no load id): (customer_id, day or time, amount[, order_id])."""
    rows = [{"customer_id": o[0], "ordered_at": o[1] if isinstance(o[1], datetime) else f"{o[1]} 00:00:00+00",
             "amount": o[2], "order_id": o[3] if len(o) > 3 else None,
             "ingested_at": ingested_at or datetime.now(timezone.utc)} for o in orders]
    with engine.begin() as connection:
        connection.execute(sa.text(
            "INSERT INTO source.orders (customer_id, ordered_at, amount, order_id, ingested_at) "
            "VALUES (:customer_id, CAST(:ordered_at AS timestamptz), :amount, :order_id, :ingested_at)"), rows)


def rfm(engine: Engine) -> dict[int, sa.Row]:
    with engine.connect() as connection:
        return {row.customer_id: row for row in connection.execute(sa.text(
            "SELECT * FROM segmentation_work.customer_rfm ORDER BY customer_id"))}


def summarise(engine: Engine, as_of: date, *, full_refresh: bool = False) -> dict[int, sa.Row]:
    refresh_order_days(engine, OrdersMapping(), "UTC", full_refresh=full_refresh)
    summarise_customers(engine, as_of)
    return rfm(engine)


def test_rfm_equals_lifetimes_summary_data_from_transaction_data(clean_db):
    insert_orders(clean_db, LIFETIMES_TRANSACTIONS)
    summary = summarise(clean_db, OBSERVATION_END)

    # lifetimes test_summary_date_from_transaction_with_monetary_values: frequency, recency, T, monetary_value.
    expected = {1: (1, 36, 37, 2), 2: (0, 0, 37, 0), 3: (2, 4, 37, 3), 4: (2, 20, 22, 3), 5: (2, 2, 22, 4.5),
                6: (0, 0, 5, 0)}
    assert {customer: (row.purchase_days - 1, row.tenure_days - row.recency_days, row.tenure_days,
                       float(row.repeat_monetary_mean))
            for customer, row in summary.items()} == expected


def test_rfm_equals_pymc_marketing_rfm_summary_with_and_without_the_first_transaction(clean_db):
    insert_orders(clean_db, PYMC_TRANSACTIONS)
    summary = summarise(clean_db, OBSERVATION_END)

    # TestRFM.test_rfm_summary_monetary_values_and_first_transactions: two orders of customer 4 on one day
    # are one purchase day, their amounts summed (3 + 6 = 9).
    lifetimes_style = {1: (1, 36, 37, 2), 2: (0, 0, 37, 0), 3: (2, 4, 37, 3), 4: (2, 20, 22, 6),
                       5: (2, 2, 22, 4.5), 6: (0, 0, 5, 0)}
    assert {customer: (row.purchase_days - 1, row.tenure_days - row.recency_days, row.tenure_days,
                       float(row.repeat_monetary_mean))
            for customer, row in summary.items()} == lifetimes_style
    with_first_transaction = {1: (2, 1, 1.5), 2: (1, 37, 2), 3: (3, 33, 3), 4: (3, 2, 6), 5: (3, 20, 4),
                              6: (1, 5, 5)}
    assert {customer: (row.purchase_days, row.recency_days, float(row.monetary_mean))
            for customer, row in summary.items()} == with_first_transaction


def test_the_first_day_dropped_from_the_repeat_mean_is_the_earliest_whatever_the_row_order(clean_db):
    # lifetimes test_summary_data_from_transaction_data_will_choose_the_correct_first_order_to_drop...
    insert_orders(clean_db, [(2, "2014-04-09", 20), (2, "2014-03-14", 10), (2, "2014-05-21", 25)])
    summary = summarise(clean_db, date(2014, 5, 21))

    assert summary[2].repeat_monetary_mean == Decimal("22.5") and summary[2].purchase_days == 3


def test_orders_after_as_of_are_ignored_and_several_on_a_day_are_one_purchase_day(clean_db):
    # lifetimes test_summary_data_from_transaction_data_returns_correct_results: as of 2015-02-07.
    insert_orders(clean_db, [(1, "2015-02-01", 1), (1, "2015-02-06", 1), (2, "2015-01-01", 1), (3, "2015-01-01", 1),
                             (3, "2015-01-02", 1), (3, "2015-01-05", 1), (3, "2015-01-05", 1), (3, "2015-03-01", 1)])
    summary = summarise(clean_db, OBSERVATION_END)

    assert {customer: (row.purchase_days - 1, row.tenure_days - row.recency_days, row.tenure_days)
            for customer, row in summary.items()} == {1: (1, 5, 6), 2: (0, 0, 37), 3: (2, 4, 37)}
    assert summary[3].monetary_total == Decimal("4")  # the order of 2015-03-01 is after as_of


def test_purchase_days_are_calendar_days_in_the_business_time_zone(clean_db):
    # 23:30 UTC on 2015-01-01 is already 2015-01-02 in Berlin, and still 2015-01-01 in New York.
    late_evening = datetime(2015, 1, 1, 23, 30, tzinfo=timezone.utc)
    insert_orders(clean_db, [(1, late_evening, 5), (1, datetime(2015, 1, 2, 12, 0, tzinfo=timezone.utc), 5)])

    refresh_order_days(clean_db, OrdersMapping(), "Europe/Berlin")
    summarise_customers(clean_db, date(2015, 1, 10))
    assert rfm(clean_db)[1].purchase_days == 1
    refresh_order_days(clean_db, OrdersMapping(), "America/New_York")  # another zone: rebuilt
    summarise_customers(clean_db, date(2015, 1, 10))
    assert rfm(clean_db)[1].purchase_days == 2


def test_every_cdnow_customer_equals_hardies_reference_summary(cdnow_orders):
    extract = extract_orders(cdnow_orders, OrdersMapping(), "UTC", as_of=date(1997, 9, 30))
    summary = rfm(cdnow_orders)

    with CDNOW_REFERENCE.open() as handle:
        reference = {int(row["ID"]): row for row in csv.DictReader(handle)}
    assert extract.customers == len(summary) == len(reference) == 2357
    mismatches = [customer for customer, row in summary.items() if (
        row.purchase_days - 1, to_cents(Decimal(row.tenure_days - row.recency_days) / 7),
        to_cents(Decimal(row.tenure_days) / 7), to_cents(row.repeat_monetary_mean)) != (
        int(reference[customer]["x"]), Decimal(reference[customer]["t_x"]), Decimal(reference[customer]["T"]),
        Decimal(reference[customer]["zbar"]))]
    assert mismatches == []


def to_cents(value: Decimal) -> Decimal:
    """Two decimals, half up: how the reference table is printed (22.345 is 22.35 there)."""
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def test_cdnow_repeat_spend_matches_the_statistics_of_hardies_paper(cdnow_orders):
    # lifetimes test_summary_statistics_are_indentical_to_hardies_paper_confirming_correct_aggregations
    # (Fader, Hardie & Lee, "RFM and CLV: Using Iso-value Curves for Customer Base Analysis", 2005).
    extract_orders(cdnow_orders, OrdersMapping(), "UTC", as_of=date(1997, 9, 30))
    repeat = sorted(float(row.repeat_monetary_mean) for row in rfm(cdnow_orders).values() if row.purchase_days > 1)
    mean = sum(repeat) / len(repeat)
    std = (sum((value - mean) ** 2 for value in repeat) / (len(repeat) - 1)) ** 0.5
    median = (repeat[len(repeat) // 2] + repeat[(len(repeat) - 1) // 2]) / 2
    assert (len(repeat), round(mean), round(std), round(min(repeat)), round(median), round(max(repeat))) == (
        946, 35, 30, 3, 27, 300)


def random_history(rng: random.Random, customers: int, start: date, days: int) -> list[tuple]:
    orders = []
    for customer in range(1, customers + 1):
        for _ in range(rng.randint(1, 6)):
            when = datetime.combine(start + timedelta(days=rng.randrange(days)), datetime.min.time(),
                                    tzinfo=timezone.utc) + timedelta(minutes=rng.randrange(1440))
            orders.append((customer, when, Decimal(rng.randint(-500, 20000)) / 100))
    return orders


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_an_incremental_refresh_equals_a_full_rebuild_with_late_corrected_and_refunded_orders(clean_db, seed):
    rng = random.Random(seed)
    start = date(2024, 1, 1)
    first_night = datetime(2024, 3, 1, tzinfo=timezone.utc)
    insert_orders(clean_db, random_history(rng, 60, start, 60), ingested_at=first_night)
    summarise(clean_db, date(2024, 3, 1))
    for night in range(1, 4):
        ingested = first_night + timedelta(days=night)
        # New orders, late ones dated weeks back, refunds of old ones, and corrections of existing rows.
        new = random_history(rng, 80, start + timedelta(days=55 + night), 5)
        late = [(customer, when - timedelta(days=rng.randrange(10, 50)), amount)
                for customer, when, amount in random_history(rng, 20, start, 60)]
        refunds = [(rng.randint(1, 60), datetime.combine(start + timedelta(days=rng.randrange(60)),
                                                          datetime.min.time(), tzinfo=timezone.utc),
                    Decimal(-rng.randint(1, 5000)) / 100) for _ in range(10)]
        insert_orders(clean_db, [*new, *late, *refunds], ingested_at=ingested)
        with clean_db.begin() as connection:  # rows corrected in place, their ingestion time bumped
            connection.execute(sa.text(
                "UPDATE source.orders SET amount = amount * 2, ingested_at = :ingested WHERE ctid IN "
                "(SELECT ctid FROM source.orders ORDER BY customer_id, ordered_at, amount LIMIT 5 OFFSET :skip)"),
                {"ingested": ingested, "skip": rng.randrange(100)})
        as_of = date(2024, 3, 1) + timedelta(days=night)
        incremental = summarise(clean_db, as_of)
        full = summarise(clean_db, as_of, full_refresh=True)
        assert len(full) >= 60 and incremental == full


def test_an_implausible_order_is_quarantined_with_its_reason_and_left_out_of_the_rfm(clean_db):
    from tasks.errors import ValidationFailedError
    from tasks.pipeline.record import start_run
    from tasks.validation.config import ValidationConfig
    from tasks.validation.orders import quarantine_order_customers

    insert_orders(clean_db, [*LIFETIMES_TRANSACTIONS, (1, "1960-05-01", 3), (2, "2015-01-20", 5_000_000_000)])
    run_id = start_run(clean_db, mode_requested="retrain", recipe_name="rfm-orders", parameters={},
                       flow_run_id=None)

    extract = extract_orders(clean_db, OrdersMapping(), "UTC", as_of=OBSERVATION_END, run_id=run_id)

    with clean_db.connect() as connection:
        quarantined = connection.execute(sa.text(
            "SELECT reasons, (record->>'customer_id')::int FROM segmentation_restricted.quarantined_orders "
            "WHERE run_id = :r ORDER BY 2"), {"r": run_id}).all()
    assert quarantined == [(["implausible_date"], 1), (["implausible_amount"], 2)]
    summary = rfm(clean_db)  # as if those two orders were not there
    assert (summary[1].purchase_days, summary[1].monetary_total) == (2, Decimal("3"))
    assert (summary[2].purchase_days, summary[2].monetary_total) == (1, Decimal("2"))
    # Within the share the run goes on; above it, the run stops and says how many and why.
    quarantine_order_customers(clean_db, run_id=run_id, config=ValidationConfig(max_quarantine_share=0.2),
                               customers=extract.customers)
    with pytest.raises(ValidationFailedError, match=r"2 of the 15 orders rolled up \(13.3%\) broke row-level "
                                                    r"checks.*implausible_amount"):
        quarantine_order_customers(clean_db, run_id=run_id, config=ValidationConfig(max_quarantine_share=0.05),
                                   customers=extract.customers)
