"""A temporary Prefect API for `segments run`, in a child process that ends when `segments run` does.

Without an API configured, Prefect starts a temporary server of its own (uvicorn, in a child process) and
stops it at exit; but a `segments run` that is killed (SIGKILL, the OOM killer) cannot stop it, and the
server lives on, re-parented, holding its memory and port. This one is the same server (Prefect's app,
served by uvicorn as Prefect serves it), started by us with a watchdog: it shuts itself down as soon as
its parent is gone, whichever way the parent ended.

Run as a module, it is the child: `python -m flows.temporary_server <parent pid> <uvicorn arguments>`.
"""

from __future__ import annotations

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
from importlib.util import find_spec
from pathlib import Path

import httpx

from tasks.errors import OrchestrationError

WATCH_SECONDS = 1.0  # how often the child checks that its parent is alive
STOP_SECONDS = 10.0  # how long a server that was asked to stop may take before it is killed


def api_configured() -> bool:
    """Whether Prefect is told of an API (PREFECT_API_URL in the environment or in the profiles file), or told
    not to start a temporary one: then `segments run` leaves Prefect to it."""
    if os.environ.get("PREFECT_API_URL"):
        return True
    if os.environ.get("PREFECT_SERVER_ALLOW_EPHEMERAL_MODE", "").lower() in ("0", "false"):
        return True
    home = Path(os.environ.get("PREFECT_HOME", Path.home() / ".prefect")).expanduser()
    profiles = Path(os.environ.get("PREFECT_PROFILES_PATH", home / "profiles.toml")).expanduser()
    return profiles.is_file() and "PREFECT_API_URL" in profiles.read_text(errors="replace")


@contextmanager
def temporary_prefect_server() -> Iterator[str | None]:
    """For the block, a Prefect API in a child process that dies with this one, its URL in PREFECT_API_URL
    (call before Prefect is imported: it reads its settings then); yields the URL, or None when an API is
    configured already."""
    if api_configured():
        yield None
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
    server = subprocess.Popen([sys.executable, "-m", "flows.temporary_server", str(os.getpid()), *uvicorn_arguments],
                              env=environment)
    url = f"http://127.0.0.1:{port}/api"
    try:
        _wait_until_healthy(server, url, float(os.environ.get("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS",
                                                              "180")))
        os.environ["PREFECT_API_URL"] = url
        try:
            yield url
        finally:
            os.environ.pop("PREFECT_API_URL", None)
    finally:
        server.terminate()
        try:
            server.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


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
            time.sleep(0.2)
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
