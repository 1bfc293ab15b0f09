"""The nightly segmentation flow: the run of tasks/pipeline/stages.py with each stage a Prefect task.

Prefect adds what a scheduled job needs around the stages: a task run per stage (named after it, retried
when the database connection dropped), the parameter form, logs, and artifacts that show each stage's
result. The order of the stages and what they do live in `run_pipeline`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

from prefect import Task, flow, get_run_logger, task
from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NONE
from prefect.futures import PrefectFuture
from prefect.runtime import flow_run

from tasks.db.server import database, is_embedded, mask_url
from tasks.db.transient import is_transient_database_error
from tasks.errors import SegmentsError
from tasks.extract.customers import load_mapping
from tasks.features.recipes import KRange, Recipe, load_recipe
from tasks.model.train import RetrainPolicy
from tasks.parameters import RunParameters
from tasks.pipeline.stages import SOURCE_CONTRACT, Reported, RunInputs, run_pipeline
from tasks.report.bands import load_bands
from tasks.settings import get_settings
from tasks.validation import ExpectationOutcome, ValidationConfig, ValidationReport

Result = TypeVar("Result")
DATA_DOCS = "data_docs"  # under the state directory


def _transient_database_error(task, task_run, state) -> bool:  # noqa: ANN001 (Prefect's callback signature)
    """Retry only what a retry can fix: a dropped or refused connection, whichever library raised it
    (tasks.db.transient), never bad data or config."""
    try:
        state.result()
    except Exception as error:  # noqa: BLE001
        return is_transient_database_error(error)
    return False


def pipeline_task(name: str, timeout_seconds: int | None = 3600) -> Callable:
    return task(name=name, task_run_name=name, cache_policy=NONE, retries=2, retry_delay_seconds=[5, 30],
                retry_condition_fn=_transient_database_error, timeout_seconds=timeout_seconds)


def _run_stage(work: Callable[[], Result], show: Callable[[Result], None] | None = None) -> Result:
    result = work()
    if show is not None:
        show(result)  # inside the task run, so its artifacts belong to it
    return result


@cache
def stage_task(name: str) -> Task:
    """The Prefect task that runs the stage `name`."""
    return pipeline_task(name)(_run_stage)


@cache
def alongside_task(name: str) -> Task:
    """The Prefect task that runs the job `name` beside a stage, in a worker thread. No timeout of its own:
    Prefect cannot enforce one there (it only warns), and the stage that waits for the job has one."""
    return pipeline_task(name, timeout_seconds=None)(_run_stage)


ARTIFACT_KEY = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")  # what Prefect accepts as an artifact key


def link_artifact(key: str, path: Path, text: str) -> None:
    """A link artifact on the current run to a file the run writes (e.g. Data Docs, which are built in the
    background: the run waits for them before it publishes, and fails if they cannot be built)."""
    if not ARTIFACT_KEY.fullmatch(key):
        raise ValueError(f"artifact key {key!r} must be lowercase letters, digits and dashes")
    create_link_artifact(key=key, link=path.resolve().as_uri(), link_text=text, description=f"{text} ({path})")


def rows_progress(what: str, logger: Any, every_seconds: float = 5.0) -> Callable[[int, float], None]:
    """A progress callback that logs rows and rows/s to the run log, at most every few seconds."""
    last = [0.0]

    def report(rows: int, seconds: float) -> None:
        if seconds - last[0] >= every_seconds:
            last[0] = seconds
            logger.info("%s: %s rows (%s rows/s)", what, f"{rows:,}", f"{rows / max(seconds, 1e-9):,.0f}")

    return report


# -- what each stage shows in the Prefect UI ---------------------------------------------------------------
def show_source_contract(docs_index: Path) -> Callable[[list[ExpectationOutcome]], None]:
    def show(_: list[ExpectationOutcome]) -> None:
        link_artifact("data-docs", docs_index, "Great Expectations Data Docs")
    return show


def show_validation(run_id: int) -> Callable[[ValidationReport], None]:
    def show(report: ValidationReport) -> None:
        create_markdown_artifact(key="validation-summary", markdown=report.markdown(),
                                 description=f"Validation of run {run_id}")
    return show


def show_report(run_id: int) -> Callable[[Reported], None]:
    def show(reported: Reported) -> None:
        summary, insight = reported.summary, reported.html
        create_markdown_artifact(key="segmentation-summary", markdown=summary.markdown(),
                                 description=f"Segmentation run {run_id}")
        if summary.profiles:
            create_table_artifact(key="segment-profiles", table=summary.table_rows(),
                                  description=f"Segment profiles of run {run_id}")
        if insight is not None:
            create_link_artifact(key=f"report-run-{run_id}", link=insight.path.as_uri(),
                                 link_text=insight.path.name,
                                 description=f"Insight report of run {run_id} (self-contained HTML)")
            if not insight.insights.conversion.empty:
                create_markdown_artifact(key="conversion-by-band", markdown=insight.conversion_markdown(),
                                         description=f"Conversion by band of run {run_id}")
                create_table_artifact(key="conversion-by-segment", table=insight.segment_table(),
                                      description=f"Conversion by segment of run {run_id}")
            get_run_logger().info("insight report: %s", insight.path)
        print(summary.as_text())  # noqa: T201 (the flow ends by showing what it published)
    return show


class PrefectCalls:
    """Each stage a Prefect task run, showing its result as artifacts; remembers the stage it is in, so that
    a failure names it."""

    def __init__(self, docs_index: Path) -> None:
        self.docs_index = docs_index
        self.current: str | None = None

    def _show(self, name: str, run_id: int | None) -> Callable[[Any], None] | None:
        if name == SOURCE_CONTRACT:
            return show_source_contract(self.docs_index)
        if run_id is None:
            return None
        return {"validate": show_validation, "report": show_report}.get(name, lambda _: None)(run_id)

    def run(self, name: str, work: Callable[[], Result], run_id: int | None = None) -> Result:
        self.current = name
        return stage_task(name)(work, self._show(name, run_id))

    def start(self, name: str, work: Callable[[], Result], run_id: int | None = None) -> PrefectFuture:
        return alongside_task(name).submit(work, self._show(name, run_id))


def resolve_recipe(parameters: RunParameters) -> Recipe:
    recipe = load_recipe(parameters.recipe)
    overrides: dict[str, Any] = {}
    if parameters.k is not None:
        overrides["k"] = parameters.k
    elif parameters.k_min is not None or parameters.k_max is not None:
        current = recipe.k if isinstance(recipe.k, KRange) else KRange(min=recipe.k, max=recipe.k)
        overrides["k"] = KRange(min=parameters.k_min or current.min, max=parameters.k_max or current.max)
    if parameters.duplicate_policy is not None:
        overrides["duplicates"] = parameters.duplicate_policy
    return recipe.model_copy(update=overrides) if overrides else recipe


@flow(name="nightly-segmentation", log_prints=True, validate_parameters=True)
def nightly_segmentation(parameters: RunParameters = RunParameters()) -> dict:  # noqa: B008 (pydantic default)
    """Segment every customer: extract, validate, build features, train or reassign, publish, report."""
    settings = get_settings()
    recipe = resolve_recipe(parameters)
    mapping = load_mapping(settings.source_mapping)
    logger = get_run_logger()
    inputs = RunInputs(
        recipe=recipe, mapping=mapping, mode=parameters.mode, as_of=parameters.as_of, dry_run=parameters.dry_run,
        lock_wait_seconds=parameters.lock_wait_seconds, full_refresh=parameters.full_refresh,
        publish_wait_seconds=parameters.publish_wait_seconds,
        business_timezone=settings.business_timezone,
        policy=RetrainPolicy(parameters.max_model_age_days, parameters.psi_threshold, parameters.silhouette_floor),
        validation=ValidationConfig(max_quarantine_share=parameters.max_quarantine_share,
                                    max_row_count_drop=parameters.max_row_count_drop),
        data_docs_dir=settings.state_dir / DATA_DOCS, data_docs_runs=settings.data_docs_runs,
        report_state_dir=settings.state_dir,
        bands=load_bands(settings.bands_file),  # checked before any work, used by the report
        load_sample_if_empty=is_embedded(settings),
        # The effective recipe (after overrides) records the run's missing-value and duplicate policies.
        recorded_parameters={**parameters.model_dump(mode="json"), "effective_recipe": recipe.model_dump(mode="json")},
        flow_run_id=flow_run.get_id())
    calls = PrefectCalls(docs_index=inputs.data_docs_dir / "index.html")
    with database(settings) as engine:
        logger.info("database %s", mask_url(engine.url))
        try:
            result = run_pipeline(engine, inputs, calls, log=logger,
                                  progress=lambda what: rows_progress(what, logger))
        except Exception as error:
            if calls.current in (None, "prepare-database"):
                raise  # the run never started: the database is unreachable, or another run holds it
            raise SegmentsError(f"stage {calls.current} failed: {error}") from error
    if result.report is None:  # published, but the report failed: the run row says so (report_error)
        return {"run": {"run_id": result.run_id, "rows_published": result.published},
                "report_error": result.report_error}
    return result.report.summary.as_dict()
