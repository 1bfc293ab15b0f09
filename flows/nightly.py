"""The nightly segmentation flow: extract -> validate -> features -> train or reassign -> publish -> report."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
import sqlalchemy as sa
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NONE
from prefect.runtime import flow_run
from sqlalchemy.engine import Engine

from tasks.model import registry
from tasks.report.bands import BandsConfig, load_bands
from tasks.db.server import concurrently, database, is_embedded, mask_url
from tasks.errors import DatabaseUnavailableError, SegmentsError
from tasks.extract.customers import DEFAULT_SOURCE_TABLE, ExtractResult, SourceMapping, extract_customers, load_mapping
from tasks.features.compute import ModelledCustomers, compute_features, model_columns, read_features
from tasks.load.customers_file import load_customers_file
from tasks.db.migrations import upgrade_schema
from tasks.parameters import RunParameters
from tasks.publish.write_audit_publish import audit, now_utc, publish, stage
from tasks.features.recipes import KRange, Recipe, load_recipe
from tasks.report.summary import RunSummary, summarise_run
from tasks.report.html import write_run_report
from tasks.pipeline.record import finish_run, pipeline_lock, start_run, update_run
from tasks.settings import SAMPLE_DATA, Settings, get_settings
from tasks.db.sql import RetiredTables
from tasks.model.train import Assignment, RetrainPolicy, decide_mode, reassign, train_model
from tasks.validation.suites import (
    DataDocs,
    ExpectationOutcome,
    ValidationConfig,
    ValidationReport,
    raise_on_contract_failures,
    store_outcomes,
    validate_features,
    validate_rows,
    validate_source_contract,
)

Result = TypeVar("Result")


def _transient_database_error(task, task_run, state) -> bool:  # noqa: ANN001 (Prefect's callback signature)
    """Retry only what a retry can fix: a dropped or refused connection, never bad data or config."""
    try:
        state.result()
    except (sa.exc.OperationalError, sa.exc.InterfaceError, DatabaseUnavailableError):
        return True
    except Exception:  # noqa: BLE001
        return False
    return False


def pipeline_task(name: str, timeout_seconds: int = 3600) -> Callable:
    return task(name=name, task_run_name=name, cache_policy=NONE, retries=2, retry_delay_seconds=[5, 30],
                retry_condition_fn=_transient_database_error, timeout_seconds=timeout_seconds)


ARTIFACT_KEY = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")  # what Prefect accepts as an artifact key


def link_artifact(key: str, path: Path, text: str) -> None:
    """A link artifact on the current run to a file the run writes (e.g. Data Docs, which are built in the
    background: the run waits for them before it publishes, and fails if they cannot be built)."""
    if not ARTIFACT_KEY.fullmatch(key):
        raise ValueError(f"artifact key {key!r} must be lowercase letters, digits and dashes")
    create_link_artifact(key=key, link=path.resolve().as_uri(), link_text=text, description=f"{text} ({path})")


def rows_progress(what: str, every_seconds: float = 5.0) -> Callable[[int, float], None]:
    """A progress callback that logs rows and rows/s to the Prefect run log, at most every few seconds."""
    last = [0.0]

    def report(rows: int, seconds: float) -> None:
        if seconds - last[0] >= every_seconds:
            last[0] = seconds
            get_run_logger().info("%s: %s rows (%s rows/s)", what, f"{rows:,}", f"{rows / max(seconds, 1e-9):,.0f}")

    return report


# -- the stages, as thin Prefect tasks over the functions in tasks/ ------------------------------------
@pipeline_task("prepare-database")
def prepare_database(engine: Engine, settings: Settings, mapping: SourceMapping) -> str:
    revision = upgrade_schema(engine)
    if is_embedded(settings) and mapping.table == DEFAULT_SOURCE_TABLE:
        with engine.connect() as connection:
            empty = not connection.scalar(sa.text("SELECT EXISTS (SELECT 1 FROM source.customers)"))
        if empty:
            loaded = load_customers_file(engine, SAMPLE_DATA)
            get_run_logger().info("empty embedded database: loaded the bundled sample (%s customers)", loaded.rows)
    return revision


@pipeline_task("extract")
def extract(engine: Engine, mapping: SourceMapping) -> ExtractResult:
    result = extract_customers(engine, mapping, today=date.today())
    get_run_logger().info("extracted %s customers from %s", result.rows, result.source_table)
    return result


@pipeline_task("check-source-contract")
def check_source_contract(engine: Engine, docs: DataDocs, mapping: SourceMapping, run_id: int,
                          config: ValidationConfig) -> list[ExpectationOutcome]:
    contract = validate_source_contract(engine, mapping, config, docs)
    link_artifact("data-docs", docs.index, "Great Expectations Data Docs")
    store_outcomes(engine, run_id, contract)
    raise_on_contract_failures(contract, f"the source table {mapping.table}")
    return contract


@pipeline_task("validate")
def validate(engine: Engine, docs: DataDocs, run_id: int, recipe: Recipe, config: ValidationConfig,
             as_of: date, contract: list[ExpectationOutcome], extracted: int) -> ValidationReport:
    report = validate_rows(engine, run_id=run_id, recipe=recipe, config=config, as_of=as_of, docs=docs,
                           extracted=extracted)
    store_outcomes(engine, run_id, report.outcomes)
    report.outcomes = contract + report.outcomes
    report.docs_index = docs.index
    create_markdown_artifact(key="validation-summary", markdown=report.markdown(),
                             description=f"Validation of run {run_id}")
    get_run_logger().info("validation: %s quarantined, %s duplicate records (policy %s)",
                          report.quarantined, report.duplicates, recipe.duplicates)
    return report


@pipeline_task("build-features")
def build_features(engine: Engine, docs: DataDocs, run_id: int, recipe: Recipe, as_of: date,
                   snapshot_date: date) -> ModelledCustomers:
    modelled = compute_features(engine, recipe, as_of=as_of, snapshot_date=snapshot_date, run_id=run_id)

    # Read while GX checks them (both only read the table); they reach the model only once the suite has
    # passed, proving them finite and in range. The model stage needs a sample; everyone is placed in SQL.
    outcomes, sample = concurrently(
        lambda: validate_features(engine, docs),
        lambda: read_features(engine, model_columns(recipe), progress=rows_progress("read features"),
                              sample=recipe.training_sample, seed=recipe.random_state, modelled=modelled))
    docs.build_index()  # the run's last suite: its Data Docs index, while the run goes on
    store_outcomes(engine, run_id, outcomes)
    raise_on_contract_failures(outcomes, "the computed features")
    return ModelledCustomers(count=modelled, sample=sample)


@pipeline_task("train-or-reassign")
def train_or_reassign(engine: Engine, run_id: int, sample: pd.DataFrame, recipe: Recipe,
                      parameters: RunParameters, as_of: date) -> Assignment:
    with engine.connect() as connection:
        active = registry.read_active_model(connection)
        next_id = registry.next_segment_id(connection)
    policy = RetrainPolicy(parameters.max_model_age_days, parameters.psi_threshold, parameters.silhouette_floor)
    decision = decide_mode(parameters.mode, active, sample, recipe, as_of, policy)
    logger = get_run_logger()
    logger.info("mode %s: %s", decision.mode, "; ".join(decision.reasons))
    update_run(engine, run_id, mode=decision.mode, mode_reasons=decision.reasons)
    if decision.mode == "reassign":
        assert active is not None
        return reassign(sample, active)
    assignment = train_model(sample, recipe, as_of=as_of, previous=active, next_segment_id=next_id)
    with engine.begin() as connection:
        registry.insert_candidate(connection, assignment.model, run_id)
    for reason in assignment.model.metrics["selection"]["reasons"]:
        logger.info("model selection: %s", reason)
    return assignment


@pipeline_task("publish")
def publish_segments(engine: Engine, run_id: int, modelled: int, assignment: Assignment, dry_run: bool) -> int:
    staged = stage(engine, assignment.model, run_id, now_utc())
    audit(engine, run_id=run_id, model_version=assignment.model.model_version, expected_rows=modelled)
    if dry_run:
        get_run_logger().info("dry run: %s customers staged and audited, nothing published", staged)
        return 0
    return publish(engine, run_id=run_id, assignment=assignment)


@pipeline_task("report")
def report(engine: Engine, run_id: int, settings: Settings, bands: BandsConfig) -> RunSummary:
    summary = summarise_run(engine, run_id)
    create_markdown_artifact(key="segmentation-summary", markdown=summary.markdown(),
                             description=f"Segmentation run {run_id}")
    if summary.profiles:
        create_table_artifact(key="segment-profiles", table=summary.table_rows(),
                              description=f"Segment profiles of run {run_id}")
    insight = write_run_report(engine, run_id, settings.state_dir, bands)
    create_link_artifact(key=f"report-run-{run_id}", link=insight.path.as_uri(), link_text=insight.path.name,
                         description=f"Insight report of run {run_id} (self-contained HTML)")
    if not insight.insights.conversion.empty:
        create_markdown_artifact(key="conversion-by-band", markdown=insight.conversion_markdown(),
                                 description=f"Conversion by band of run {run_id}")
        create_table_artifact(key="conversion-by-segment", table=insight.segment_table(),
                              description=f"Conversion by segment of run {run_id}")
    get_run_logger().info("insight report: %s", insight.path)
    print(summary.as_text())  # noqa: T201 (the flow ends by showing what it published)
    return summary


# -- the flow -------------------------------------------------------------------------------------------
@dataclass
class StageClock:
    """Remembers which stage is running (for the failure message) and how long each took."""

    current: str = "start"
    seconds: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        self.current = name
        started = time.perf_counter()
        yield
        self.seconds[name] = round(time.perf_counter() - started, 3)


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
    bands = load_bands(settings.bands_file)  # checked before any work, used by the report
    config = ValidationConfig(max_quarantine_share=parameters.max_quarantine_share,
                              max_row_count_drop=parameters.max_row_count_drop)
    logger = get_run_logger()
    docs_dir = settings.state_dir / "data_docs"
    with database(settings) as engine, DataDocs(docs_dir, settings.data_docs_runs) as docs:
        logger.info("database %s", mask_url(engine.url))
        prepare_database(engine, settings, mapping)
        with pipeline_lock(engine, parameters.lock_wait_seconds), RetiredTables(engine) as retired:
            # The effective recipe (after overrides) records the run's missing-value and duplicate policies.
            recorded = {**parameters.model_dump(mode="json"), "effective_recipe": recipe.model_dump(mode="json")}
            run_id = start_run(engine, mode_requested=parameters.mode, recipe_name=recipe.name,
                               parameters=recorded, flow_run_id=flow_run.get_id())
            clock = StageClock()
            try:
                # The source contract reads the source table, not the extract: GX checks it while the
                # extract copies it, and the run waits for the verdict before using the extract.
                contract = check_source_contract.submit(engine, docs, mapping, run_id, config)
                try:
                    with clock.stage("extract"):
                        extracted = extract(engine, mapping)
                finally:
                    contract.wait()
                # The tables replaced since the last run's extract (the previous extract, published partitions
                # and, below, features) are dropped in the background while the run computes. Not before the
                # extract commits: a drop under way made that commit wait for the file system.
                retired.drop()
                as_of = parameters.as_of or extracted.snapshot_date
                update_run(engine, run_id, as_of=as_of, rows_extracted=extracted.rows)
                with clock.stage("validate"):
                    validation = validate(engine, docs, run_id, recipe, config, as_of, contract.result(),
                                          extracted.rows)
                update_run(engine, run_id, rows_quarantined=validation.quarantined)
                with clock.stage("build-features"):
                    modelled = build_features(engine, docs, run_id, recipe, as_of, extracted.snapshot_date)
                retired.drop()  # the previous features
                update_run(engine, run_id, rows_modelled=modelled.count)
                with clock.stage("train-or-reassign"):
                    assignment = train_or_reassign(engine, run_id, modelled.sample, recipe, parameters, as_of)
                update_run(engine, run_id, model_version=assignment.model.model_version)
                with clock.stage("publish"):
                    docs.wait()  # the run's Data Docs are complete before anything is published
                    published = publish_segments(engine, run_id, modelled.count, assignment, parameters.dry_run)
                update_run(engine, run_id, rows_published=published, timings=clock.seconds)
                finish_run(engine, run_id, status="succeeded")
                with clock.stage("report"):
                    summary = report(engine, run_id, settings, bands)
                update_run(engine, run_id, timings=clock.seconds)
            except Exception as error:
                update_run(engine, run_id, timings=clock.seconds)
                finish_run(engine, run_id, status="failed", failed_stage=clock.current, error=str(error))
                raise SegmentsError(f"stage {clock.current} failed: {error}") from error
    return summary.as_dict()
