"""A local Prefect installation as child processes: server, work pool, deployments, worker.

`segments serve` and the end-to-end test both use this. Everything goes through Prefect's own CLI
(the same commands a user would type), with an environment that keeps Prefect's state in one
directory and talks to one loopback server.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tasks.errors import OrchestrationError, SegmentsError
from tasks.settings import PROJECT_ROOT

WORK_POOL = "segments-process"
FLOW_NAME = "nightly-segmentation"
NIGHTLY_DEPLOYMENT = f"{FLOW_NAME}/nightly"
MANUAL_DEPLOYMENT = f"{FLOW_NAME}/manual"
DEFAULT_TIMEZONE = "UTC"
SERVER_URL_FILE = "prefect-server.json"  # in the state directory, while `segments serve` runs
PREFECT = Path(sys.executable).parent / "prefect"  # the CLI of this environment, not whatever is on PATH


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def prefect_base_environment(home: Path) -> dict[str, str]:
    """The settings every Prefect process of ours gets (`segments` commands, the tests, a local server's
    processes): Prefect's state in `home`, no telemetry (no outside network), and a patient start for an
    ephemeral API on a busy 2-core machine."""
    return {
        "PREFECT_HOME": str(home),
        "DO_NOT_TRACK": "1",  # the SDK's own telemetry
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
    }


def use_prefect_base_environment(home: Path) -> None:
    """Give this process, and those it starts, prefect_base_environment where the variable is not set already.

    Call it before Prefect is imported: Prefect reads its settings then. (This module imports Prefect only
    inside functions, so the tests' conftest can import it first.)"""
    for name, value in prefect_base_environment(home).items():
        os.environ.setdefault(name, value)


def prefect_environment(home: Path, port: int, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for every Prefect process of one local installation (server, CLI, worker, runs):
    prefect_base_environment, with the local server's address, database and CLI settings on top."""
    env = dict(os.environ if base is None else base)
    env.update(prefect_base_environment(home))
    env.update(
        PREFECT_PROFILES_PATH=str(home / "profiles.toml"),
        PREFECT_API_URL=f"http://127.0.0.1:{port}/api",
        PREFECT_SERVER_API_HOST="127.0.0.1",
        PREFECT_SERVER_API_PORT=str(port),
        PREFECT_SERVER_DATABASE_CONNECTION_URL=f"sqlite+aiosqlite:///{home}/prefect.db",
        PREFECT_SERVER_UI_SHOW_PROMOTIONAL_CONTENT="false",
        PREFECT_CLI_PROMPT="false",
        PREFECT_CLI_COLORS="false",
        PREFECT_CLI_WRAP_LINES="false",
    )
    env.setdefault("SEGMENTS_TIMEZONE", DEFAULT_TIMEZONE)  # prefect.yaml's nightly schedule reads it
    return env


def _stop_process_group(process: subprocess.Popen | None, timeout: float) -> int | None:
    """SIGINT the process group (Prefect shuts down cleanly on it), SIGKILL if it does not exit in time."""
    if process is None:
        return None
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGINT)
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
        except ProcessLookupError:
            pass
    return process.returncode


@dataclass
class LocalPrefect:
    """A Prefect server on a loopback port with its state (SQLite) in `home`, and optionally a worker."""

    home: Path
    port: int = field(default_factory=free_port)
    project_dir: Path = PROJECT_ROOT
    server: subprocess.Popen | None = None
    worker: subprocess.Popen | None = None

    def __post_init__(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.env = prefect_environment(self.home, self.port)

    @property
    def api_url(self) -> str:
        return self.env["PREFECT_API_URL"]

    @property
    def ui_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def flow_run_url(self, flow_run_id: object) -> str:
        return f"{self.ui_url}/runs/flow-run/{flow_run_id}"

    @property
    def server_log(self) -> Path:
        return self.home / "server.log"

    @property
    def worker_log(self) -> Path:
        return self.home / "worker.log"

    # -- server ----------------------------------------------------------------------------------
    def start_server(self, timeout: float = 120) -> float:
        """Start the server and wait until its API answers; returns the seconds it took."""
        if not port_is_free(self.port):
            raise OrchestrationError(f"port {self.port} on 127.0.0.1 is in use; pick another with --port")
        started = time.monotonic()
        with open(self.server_log, "wb") as log:
            self.server = subprocess.Popen(
                [str(PREFECT), "server", "start", "--host", "127.0.0.1", "--port", str(self.port), "--analytics-off"],
                env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        while time.monotonic() - started < timeout:
            if self.server.poll() is not None:
                raise OrchestrationError(f"the Prefect server exited with code {self.server.returncode}; "
                                         f"its log ends with:\n{tail(self.server_log)}")
            try:
                if httpx.get(f"{self.api_url}/health", timeout=2).status_code == 200:
                    return time.monotonic() - started
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        self.stop()
        raise OrchestrationError(f"the Prefect server did not answer within {timeout:.0f}s; its log ends with:\n"
                                 f"{tail(self.server_log)}")

    # -- CLI steps -------------------------------------------------------------------------------
    def prefect(self, *args: str, timeout: float = 300) -> str:
        return run_prefect_cli(args, env=self.env, cwd=self.project_dir, timeout=timeout)

    def create_work_pool(self) -> None:
        create_work_pool(env=self.env, cwd=self.project_dir)

    def deploy(self) -> str:
        return deploy_all(env=self.env, project_dir=self.project_dir)

    # -- worker ----------------------------------------------------------------------------------
    def start_worker(self, extra_env: Mapping[str, str] | None = None, query_seconds: int = 2) -> None:
        """A process worker on the pool; its flow runs inherit `extra_env` (e.g. SEGMENTS_STATE_DIR). It asks
        the local server for scheduled runs every `query_seconds` (Prefect's default is 10 s): a run
        triggered from the UI starts within that, for a query the local server answers at once."""
        env = {**self.env, "PREFECT_WORKER_QUERY_SECONDS": str(query_seconds), **(extra_env or {})}
        with open(self.worker_log, "wb") as log:
            self.worker = subprocess.Popen(
                [str(PREFECT), "worker", "start", "--pool", WORK_POOL, "--name", f"{WORK_POOL}-worker",
                 "--install-policy", "never"],
                cwd=self.project_dir, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def check_alive(self) -> None:
        for name, process, log in (("server", self.server, self.server_log), ("worker", self.worker, self.worker_log)):
            if process is not None and process.poll() is not None:
                raise OrchestrationError(f"the Prefect {name} exited with code {process.returncode}; its log "
                                         f"ends with:\n{tail(log)}")

    def stop(self) -> None:
        # The worker first: without its API it retries for a long time instead of exiting.
        _stop_process_group(self.worker, timeout=30)
        _stop_process_group(self.server, timeout=30)

    def __enter__(self) -> LocalPrefect:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def run_prefect_cli(args: tuple[str, ...] | list[str], *, env: Mapping[str, str], cwd: Path,
                    timeout: float = 300) -> str:
    """Run `prefect ARGS`; fail with its output when it fails."""
    try:
        result = subprocess.run([str(PREFECT), *args], cwd=cwd, env=dict(env), capture_output=True, text=True,
                                timeout=timeout, check=False)
    except subprocess.TimeoutExpired as error:
        raise OrchestrationError(f"`prefect {' '.join(args)}` did not finish within {timeout:.0f}s") from error
    output = result.stdout + result.stderr
    if result.returncode != 0:
        raise OrchestrationError(f"`prefect {' '.join(args)}` failed (exit code {result.returncode}):\n"
                                 f"{output[-3000:]}")
    return output


def create_work_pool(*, env: Mapping[str, str], cwd: Path = PROJECT_ROOT) -> None:
    """The process work pool the deployments use; one flow run at a time (a second one waits its turn)."""
    run_prefect_cli(["work-pool", "create", WORK_POOL, "--type", "process", "--overwrite"], env=env, cwd=cwd)
    # The same as `prefect work-pool set-concurrency-limit`, without starting the CLI a second time. Prefect's
    # client, not a bare request: it retries the 503 the server answers while its SQLite database is locked.
    from prefect.client.orchestration import SyncPrefectClient  # noqa: PLC0415
    from prefect.client.schemas.actions import WorkPoolUpdate  # noqa: PLC0415

    try:
        with SyncPrefectClient(env["PREFECT_API_URL"]) as client:
            client.update_work_pool(WORK_POOL, WorkPoolUpdate(concurrency_limit=1))
    except httpx.HTTPStatusError as error:
        raise OrchestrationError(f"could not limit the work pool {WORK_POOL} to one run at a time: "
                                 f"{error.response.status_code} {error.response.text[:500]}") from error


def deploy_all(*, env: Mapping[str, str], project_dir: Path = PROJECT_ROOT) -> str:
    """`prefect deploy --all` from the checkout, so prefect.yaml's pull step points at this checkout."""
    deploy_env = dict(env)
    deploy_env["PWD"] = str(project_dir)  # prefect.yaml's "{{ $PWD }}": a child process does not update it
    deploy_env.setdefault("SEGMENTS_TIMEZONE", DEFAULT_TIMEZONE)
    return run_prefect_cli(["--no-prompt", "deploy", "--all"], env=deploy_env, cwd=project_dir)


def tail(path: Path, characters: int = 3000) -> str:
    if not path.exists():
        return "(no log)"
    return path.read_text(errors="replace")[-characters:]


def write_server_file(state_dir: Path, prefect: LocalPrefect) -> Path:
    """Tell other `segments` commands (trigger, deploy) where the running `segments serve` is."""
    path = state_dir / SERVER_URL_FILE
    path.write_text(json.dumps({"api_url": prefect.api_url, "ui_url": prefect.ui_url, "pid": os.getpid(),
                                "home": str(prefect.home)}))
    return path


def served_api_url(state_dir: Path) -> str | None:
    """The API URL of a `segments serve` running on this state directory, if any."""
    path = state_dir / SERVER_URL_FILE
    if not path.exists():
        return None
    served = json.loads(path.read_text())
    try:
        os.kill(int(served["pid"]), 0)
    except (ProcessLookupError, ValueError, KeyError):
        return None
    except PermissionError:
        pass
    return str(served["api_url"])


def parse_parameter_assignments(assignments: list[str]) -> dict[str, object]:
    """`k=v` pairs from the command line; values are JSON when they parse (5, true, null), else strings."""
    parameters: dict[str, object] = {}
    for assignment in assignments:
        name, separator, raw = assignment.partition("=")
        if not separator or not name.strip():
            raise SegmentsError(f"--param takes NAME=VALUE, got {assignment!r}")
        try:
            value: object = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        parameters[name.strip()] = value
    return parameters
