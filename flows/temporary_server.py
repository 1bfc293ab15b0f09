"""A temporary Prefect API for `segments run`, in a child process that ends when `segments run` does.

Without an API configured, Prefect starts a temporary server of its own (uvicorn, in a child process) and
stops it at exit; but a `segments run` that is killed (SIGKILL, the OOM killer) cannot stop it, and the
server lives on, re-parented, holding its memory and port. This one is the same server (Prefect's app,
served by uvicorn as Prefect serves it), started by us with a watchdog: it shuts itself down as soon as
its parent is gone, whichever way the parent ended.

Run as a module, it is the child: `python -m flows.temporary_server <parent pid> <uvicorn arguments>`.
"""

from __future__ import annotations

import importlib.metadata
import os
import runpy
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path

import httpx

from tasks.errors import OrchestrationError

WATCH_SECONDS = 1.0  # how often the child checks that its parent is alive
STOP_SECONDS = 10.0  # how long a server that was asked to stop may take before it is killed
DRAIN_SECONDS = 10.0  # how long the last logs and events may take to reach the server


def api_configured() -> bool:
    """Whether Prefect is told of an API (PREFECT_API_URL in the environment or in the profiles file), or told
    not to start a temporary one: then `segments run` leaves Prefect to it."""
    if os.environ.get("PREFECT_API_URL"):
        return True
    if os.environ.get("PREFECT_SERVER_ALLOW_EPHEMERAL_MODE", "").lower() in ("0", "false"):
        return True
    home = _prefect_home()
    profiles = Path(os.environ.get("PREFECT_PROFILES_PATH", home / "profiles.toml")).expanduser()
    return profiles.is_file() and "PREFECT_API_URL" in profiles.read_text(errors="replace")


@dataclass
class StartingServer:
    """A temporary server being started: its URL is known (and set) at once, so Prefect can be imported
    meanwhile; `ready()` waits until it answers."""

    process: subprocess.Popen
    url: str
    migrated_marker: Path | None
    answered: bool = False

    def ready(self) -> None:
        if self.answered:
            return
        _wait_until_healthy(self.process, self.url, float(os.environ.get(
            "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")))
        self.answered = True
        if self.migrated_marker is not None:
            self.migrated_marker.write_text(_prefect_version())


def _prefect_home() -> Path:
    return Path(os.environ.get("PREFECT_HOME", Path.home() / ".prefect")).expanduser()


def _prefect_version() -> str:
    return importlib.metadata.version("prefect")


def _migrated_marker(home: Path) -> Path | None:
    """Where a server that created or upgraded the Prefect database of `home` leaves word of it; None when
    Prefect's database is configured elsewhere (then Prefect checks it at every start, as it always does)."""
    if any(os.environ.get(name) for name in ("PREFECT_API_DATABASE_CONNECTION_URL",
                                               "PREFECT_SERVER_DATABASE_CONNECTION_URL")):
        return None
    return home / "segments-migrated-for-prefect"


def _already_migrated(home: Path, marker: Path | None) -> bool:
    return (marker is not None and marker.is_file() and (home / "prefect.db").is_file()
            and marker.read_text() == _prefect_version())


@contextmanager
def temporary_prefect_server() -> Iterator[StartingServer | None]:
    """For the block, a Prefect API in a child process that dies with this one, its URL in PREFECT_API_URL
    (call before Prefect is imported: it reads its settings then). Yields the server as it starts (call its
    `ready()` before the first request), or None when an API is configured already.

    On the way out, what Prefect still has to send (logs, events) is sent before the server stops: at
    interpreter exit it would find no server, and retry for a long time."""
    if api_configured():
        try:
            yield None
        finally:
            drain_prefect_clients()
        return
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    prefect_dir = Path(find_spec("prefect").origin).parent  # type: ignore[arg-type,union-attr]
    uvicorn_arguments = ["--app-dir", str(prefect_dir.parent), "--factory", "prefect.server.api.server:create_app",
                         "--host", "127.0.0.1", "--port", str(port), "--log-level", "error", "--lifespan", "on"]
    # As Prefect starts its own temporary server: no UI, and the server's ephemeral settings.
    environment = {**os.environ, "PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1",
                   "PREFECT__SERVER_FINAL": "1"}
    home = _prefect_home()
    marker = _migrated_marker(home)
    if _already_migrated(home, marker):
        # The database is this Prefect version's already: the start skips the migration check and the
        # block registration, which only a new Prefect version changes.
        environment.update(PREFECT_API_DATABASE_MIGRATE_ON_START="false", PREFECT_API_BLOCKS_REGISTER_ON_START="false")
        marker = None
    server = subprocess.Popen([sys.executable, "-m", "flows.temporary_server", str(os.getpid()), *uvicorn_arguments],
                              env=environment)
    url = f"http://127.0.0.1:{port}/api"
    starting = StartingServer(server, url, marker)
    os.environ["PREFECT_API_URL"] = url
    try:
        yield starting
    finally:
        if starting.answered:
            drain_prefect_clients()
        os.environ.pop("PREFECT_API_URL", None)
        server.terminate()
        try:
            server.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def drain_prefect_clients(timeout_seconds: float = DRAIN_SECONDS) -> None:
    """Send the logs and events Prefect's background workers still hold (if Prefect was imported at all)."""
    if "prefect" not in sys.modules:
        return
    from prefect.events.worker import EventsWorker  # noqa: PLC0415
    from prefect.logging.handlers import APILogWorker  # noqa: PLC0415

    for worker in (APILogWorker, EventsWorker):
        try:
            worker.drain_all(timeout=timeout_seconds)
        except Exception:  # noqa: BLE001 (best effort: the run's outcome is already decided and shown)
            pass


def _wait_until_healthy(server: subprocess.Popen, url: str, timeout_seconds: float) -> None:
    deadline = time.monotonic() + timeout_seconds
    with httpx.Client() as client:
        while time.monotonic() < deadline:
            if server.poll() is not None:
                raise OrchestrationError(f"the temporary Prefect server exited at start (code {server.returncode})")
            try:
                if client.get(f"{url}/health", timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
    raise OrchestrationError(f"the temporary Prefect server did not answer at {url} within {timeout_seconds:g}s")


def _stop_when_orphaned(parent: int) -> None:
    """In the child: once the parent is gone (this process re-parented), stop the server as Ctrl-C would, and
    exit outright should it not stop."""
    while os.getppid() == parent:
        time.sleep(WATCH_SECONDS)
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(STOP_SECONDS)
    os._exit(1)


if __name__ == "__main__":
    parent_pid = int(sys.argv[1])
    if os.getppid() != parent_pid:
        sys.exit(0)  # the parent died while this started
    threading.Thread(target=_stop_when_orphaned, args=(parent_pid,), daemon=True, name="orphan-watch").start()
    sys.argv = ["uvicorn", *sys.argv[2:]]
    runpy.run_module("uvicorn", run_name="__main__", alter_sys=True)
