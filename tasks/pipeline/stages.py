"""One run of the pipeline, stage by stage: the only place that says which stage follows which.

The Prefect flow (flows/nightly.py), the benchmark and the tests all run `run_pipeline`; each passes its
own `StageCalls`, which says how a stage is called: as a Prefect task with retries and artifacts, timed
by the benchmark's meter, or directly. The stages are methods of `Pipeline`, plain functions of the run's
inputs and of what earlier stages returned.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any, Protocol, TypeVar

import numpy as np
from sqlalchemy.engine import Engine

from tasks.db.migrations import upgrade_schema
from tasks.db.parallel import concurrently
from tasks.db.sql import RetiredTables, run_sql_file
from tasks.extract.customers import DEFAULT_SOURCE_TABLE, ExtractResult, SourceMapping, extract_customers
from tasks.extract.orders import extract_orders, latest_order_currency
from tasks.features.compute import ModelledCustomers, compute_features, model_columns, read_features
from tasks.features.recipes import Recipe
from tasks.model import registry
from tasks.model.predict_value import ValueModels, clear_predictions, predict_customer_value
from tasks.model.registry import StoredModel
from tasks.model.train import Assignment, RetrainPolicy, decide_mode, reassign, train_model
from tasks.model.value_tiers import tier_by_expected_value
from tasks.pipeline.record import RunRecord, pipeline_lock, recorded_run
from tasks.publish.write_audit_publish import SWAP_WAIT_SECONDS, audit, now_utc, publish, stage
from tasks.report.bands import BandsConfig
from tasks.report.summary import RunSummary, summarise_run
from tasks.settings import SAMPLE_DATA
from tasks.validation.orders import quarantine_order_customers, validate_order_features, validate_orders_contract
from tasks.validation import (
    DataDocs,
    ExpectationOutcome,
    ValidationConfig,
    ValidationReport,
    raise_on_contract_failures,
    raise_on_unevaluated,
    store_outcomes,
    validate_features,
    validate_rows,
    validate_source_contract,
)

Result = TypeVar("Result")

# The stages in the order they run, as the run record and the flow's task runs name them. The source
# contract is checked alongside the extract (it reads the source table, not the extract).
SOURCE_CONTRACT = "check-source-contract"
STAGES = ("extract", "validate", "build-features", "train-or-reassign", "predict-value", "publish", "report")


class Alongside(Protocol[Result]):
    """A job started beside the stages: `wait` for it to end, `result` to have its outcome (or its error)."""

    def wait(self) -> None: ...

    def result(self) -> Result: ...


class StageCalls(Protocol):
    """How a stage is called: `run` calls it and returns its result; `start` starts a job alongside. Both
    are told the run the stage belongs to (None before the run is recorded)."""

    def run(self, name: str, work: Callable[[], Result], run_id: int | None = None) -> Result: ...

    def start(self, name: str, work: Callable[[], Result], run_id: int | None = None) -> Alongside[Result]: ...


@dataclass
class ThreadJob:
    """A job alongside the stages, in a thread of its own."""

    future: Future

    def wait(self) -> None:
        self.future.exception()

    def result(self) -> Any:
        return self.future.result()


class DirectCalls:
    """Stages called as they are (the tests); a job alongside runs in a thread."""

    def run(self, name: str, work: Callable[[], Result], run_id: int | None = None) -> Result:
        return work()

    def start(self, name: str, work: Callable[[], Result], run_id: int | None = None) -> ThreadJob:
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        job = ThreadJob(executor.submit(work))
        executor.shutdown(wait=False)
        return job


@dataclass
class RunInputs:
    """What a run is given: its recipe and source, its policies, and what it may skip.

    `validation` None validates nothing (no suite runs); `unvalidated_quarantine` then sets aside, by run
    id, the customers such a run leaves out and returns how many (the benchmark's run without validation
    models the customers a validated run would). `drop_retired_tables` False keeps what the run replaces,
    renamed _retired, for a later drop; `before_audit` and `after_publish_step` step in between the
    publish's steps (the tests use these three)."""

    recipe: Recipe
    mapping: SourceMapping = field(default_factory=SourceMapping)
    mode: str = "auto"
    as_of: date | None = None
    dry_run: bool = False
    lock_wait_seconds: float = 0.0
    publish_wait_seconds: float = SWAP_WAIT_SECONDS  # for readers' locks on the published table
    policy: RetrainPolicy = field(default_factory=RetrainPolicy)
    validation: ValidationConfig | None = field(default_factory=ValidationConfig)
    data_docs_dir: Path | None = None
    data_docs_runs: int = 30
    report_state_dir: Path | None = None  # the HTML report goes to its reports/; None: the summary only
    bands: BandsConfig | None = None
    load_sample_if_empty: bool = False  # an empty embedded database gets the bundled sample
    recorded_parameters: dict[str, Any] = field(default_factory=dict)
    flow_run_id: str | None = None
    unvalidated_quarantine: Callable[[Engine, int], int] | None = None
    full_refresh: bool = False  # an orders source: rebuild the daily rollup from every order
    business_timezone: str = "UTC"  # an orders source: whose calendar days are purchase days
    drop_retired_tables: bool = True
    before_audit: Callable[[Engine], None] | None = None
    after_publish_step: Callable[[str], None] | None = None


@dataclass
class TieredSample:
    """A trained model's sample customers and their clusters, for tiers by expected value."""

    model: StoredModel
    customer_ids: np.ndarray
    cluster_indexes: np.ndarray


@dataclass
class Reported:
    """What the report stage made: the run's summary and, when the run writes one, its HTML report."""

    summary: RunSummary
    html: Any = None  # tasks.report.html.RunReport


@dataclass
class RunResult:
    run_id: int
    published: int
    report: Reported | None  # None when the report failed after the publish (report_error says why)
    timings: dict[str, float]  # seconds per stage, in the order they ran
    report_error: str | None = None


@dataclass
class Pipeline:
    """The stages of one run. Each method is one stage (or the job alongside one)."""

    engine: Engine
    inputs: RunInputs
    record: RunRecord
    docs: DataDocs | None
    retired: RetiredTables
    log: logging.Logger | logging.LoggerAdapter
    progress: Callable[[str], Callable[[int, float], None] | None] = lambda what: None

    @property
    def run_id(self) -> int:
        return self.record.run_id

    @property
    def on_orders(self) -> bool:
        return self.inputs.recipe.source == "orders"

    def drop_retired_tables(self) -> None:
        """Drop, in the background, the tables the run has replaced so far (unless the run keeps them)."""
        if self.inputs.drop_retired_tables:
            self.retired.drop()

    def check_source_contract(self) -> list[ExpectationOutcome]:
        assert self.inputs.validation is not None
        if self.on_orders:
            orders = self.inputs.mapping.orders
            contract = validate_orders_contract(self.engine, orders, self.inputs.validation, self.docs)
            where = f"the orders table {orders.table}"
        else:
            contract = validate_source_contract(self.engine, self.inputs.mapping, self.inputs.validation, self.docs)
            where = f"the source table {self.inputs.mapping.table}"
        store_outcomes(self.engine, self.run_id, contract)
        raise_on_contract_failures(contract, where)
        return contract

    def extract(self, contract_check: Alongside[list[ExpectationOutcome]] | None = None) -> ExtractResult:
        """Copy the source into the run's extract; the stage ends once the contract check beside it has."""
        try:
            result = self._extract_orders() if self.on_orders else extract_customers(
                self.engine, self.inputs.mapping, today=date.today(), features=self.inputs.recipe.feature_names)
        finally:
            if contract_check is not None:
                contract_check.wait()
        self.log.info("extracted %s customers from %s", result.rows, result.source_table)
        return result

    def _extract_orders(self) -> ExtractResult:
        """The daily rollup refreshed and every customer's RFM as of the run's day (the latest purchase day
        unless the run says otherwise)."""
        orders = extract_orders(self.engine, self.inputs.mapping.orders, self.inputs.business_timezone,
                                as_of=self.inputs.as_of, full_refresh=self.inputs.full_refresh,
                                run_id=self.run_id)
        self.log.info("orders rollup: %s refresh, %s order rows read", "full" if orders.refresh.full
                      else "incremental", f"{orders.refresh.orders_read:,}")
        return ExtractResult(rows=orders.customers, source_table=orders.source_table,
                             snapshot_date=orders.snapshot_date,
                             currency=self.inputs.mapping.currency or latest_order_currency(self.engine))

    def validate(self, as_of: date, contract_check: Alongside[list[ExpectationOutcome]],
                 extracted: int) -> ValidationReport:
        """The row-level suite and the quarantine, once the source contract (checked alongside the extract)
        has passed."""
        assert self.inputs.validation is not None
        contract = contract_check.result()
        recipe = self.inputs.recipe
        if self.on_orders:
            report = quarantine_order_customers(self.engine, run_id=self.run_id, config=self.inputs.validation,
                                                customers=extracted)
        else:
            report = validate_rows(self.engine, run_id=self.run_id, recipe=recipe, config=self.inputs.validation,
                                   as_of=as_of, docs=self.docs, extracted=extracted,
                                   columns=set(self.inputs.mapping.columns))
        store_outcomes(self.engine, self.run_id, report.outcomes)
        raise_on_unevaluated(report.outcomes, "the extract")
        report.outcomes = contract + report.outcomes
        if self.docs is not None:
            report.docs_index = self.docs.index
        self.log.info("validation: %s quarantined, %s duplicate records (policy %s)",
                      report.quarantined, report.duplicates, recipe.duplicates)
        return report

    def build_features(self, as_of: date, snapshot_date: date) -> ModelledCustomers:
        recipe = self.inputs.recipe
        modelled = compute_features(self.engine, recipe, as_of=as_of, snapshot_date=snapshot_date,
                                    run_id=self.run_id)

        def read_sample():  # noqa: ANN202
            return read_features(self.engine, model_columns(recipe), progress=self.progress("read features"),
                                 sample=recipe.training_sample, seed=recipe.random_state, modelled=modelled)

        if self.inputs.validation is None:
            return ModelledCustomers(count=modelled, sample=read_sample())
        # Read while GX checks them (both only read the table); they reach the model only once the suite has
        # passed, proving them finite and in range. The model stage needs a sample; everyone is placed in SQL.
        def suite() -> list[ExpectationOutcome]:
            if self.on_orders:
                return validate_order_features(self.engine, self.docs)
            return validate_features(self.engine, self.docs, self.inputs.mapping)

        outcomes, sample = concurrently(suite, read_sample)
        if self.docs is not None:
            self.docs.build_index()  # the run's last suite: its Data Docs index, while the run goes on
        store_outcomes(self.engine, self.run_id, outcomes)
        raise_on_contract_failures(outcomes, "the computed features")
        return ModelledCustomers(count=modelled, sample=sample)

    def train_or_reassign(self, modelled: ModelledCustomers, as_of: date) -> Assignment:
        with self.engine.connect() as connection:
            active = registry.read_active_model(connection)
            next_id = registry.next_segment_id(connection)
        decision = decide_mode(self.inputs.mode, active, modelled.sample, self.inputs.recipe, as_of,
                               self.inputs.policy)
        self.log.info("mode %s: %s", decision.mode, "; ".join(decision.reasons))
        self.record.update(mode=decision.mode, mode_reasons=decision.reasons)
        if decision.mode == "reassign":
            assert active is not None
            return reassign(modelled.sample, active)
        assignment = train_model(modelled.sample, self.inputs.recipe, as_of=as_of, previous=active,
                                 next_segment_id=next_id)
        with self.engine.begin() as connection:
            registry.insert_candidate(connection, assignment.model, self.run_id)
        for reason in assignment.model.metrics["selection"]["reasons"]:
            self.log.info("model selection: %s", reason)
        return assignment

    def predict_value(self, as_of: date, modelled: int, tiered_sample: TieredSample | None = None
                      ) -> ValueModels | None:
        """An orders run: each customer's next year (BG/NBD and Gamma-Gamma, fitted on this run's RFM).
        A profile run has no purchase history to fit them on, and publishes no value. With `tiered_sample`
        (a model this run trained, its recipe tiering by expected value), the model's tiers are then set
        from its sample clusters' mean expected value (tasks/model/value_tiers.py)."""
        if not self.on_orders:
            clear_predictions(self.engine)
            return None
        recipe = self.inputs.recipe
        models = predict_customer_value(self.engine, run_id=self.run_id, as_of=as_of, customers=modelled,
                                        sample=recipe.training_sample, seed=recipe.random_state)
        self.log.info("value models: %s", models.describe())
        if tiered_sample is not None:
            tiers = tier_by_expected_value(self.engine, tiered_sample.model, tiered_sample.customer_ids,
                                           tiered_sample.cluster_indexes)
            self.log.info("tiers by expected value: %s", ", ".join(
                f"{label.segment_name} {tiers[label.cluster_index]}" for label in tiered_sample.model.segments))
        return models

    def publish(self, modelled: int, assignment: Assignment) -> int:
        version = assignment.model.model_version
        if self.docs is not None:
            self.docs.wait()  # the run's Data Docs are complete before anything is published
        staged = stage(self.engine, assignment.model, self.run_id, now_utc())
        if self.inputs.before_audit is not None:
            self.inputs.before_audit(self.engine)
        audit(self.engine, run_id=self.run_id, model_version=version, expected_rows=modelled)
        if self.inputs.dry_run:
            self.log.info("dry run: %s customers staged and audited, nothing published", staged)
            return 0
        return publish(self.engine, run_id=self.run_id, assignment=assignment,
                       after_step=self.inputs.after_publish_step, with_rfm=self.on_orders,
                       fence=self.record.fence, swap_wait_seconds=self.inputs.publish_wait_seconds,
                       logger=self.log)

    def report(self) -> Reported:
        summary = summarise_run(self.engine, self.run_id)
        html = None
        if self.inputs.report_state_dir is not None and self.inputs.bands is not None:
            from tasks.report.html import write_run_report  # noqa: PLC0415 (only where a run reports)

            html = write_run_report(self.engine, self.run_id, self.inputs.report_state_dir, self.inputs.bands)
        self.retired.wait()  # the run ends once the tables it replaced are dropped
        return Reported(summary, html)


def prepare_database(engine: Engine, inputs: RunInputs, log: logging.Logger | logging.LoggerAdapter) -> str:
    """Bring the schema to the head revision before anything reads it (and give an empty embedded database
    the bundled sample); returns the revision."""
    revision = upgrade_schema(engine)
    if inputs.load_sample_if_empty and inputs.recipe.source == "customers" \
            and inputs.mapping.table == DEFAULT_SOURCE_TABLE:
        with engine.connect() as connection:
            empty = not run_sql_file(connection, "pipeline/source_has_customers.sql").scalar()
        if empty:
            from tasks.load.customers_file import load_customers_file  # noqa: PLC0415

            loaded = load_customers_file(engine, SAMPLE_DATA)
            log.info("empty embedded database: loaded the bundled sample (%s customers)", loaded.rows)
    return revision


def run_pipeline(engine: Engine, inputs: RunInputs, calls: StageCalls | None = None, *,
                 log: logging.Logger | logging.LoggerAdapter | None = None,
                 progress: Callable[[str], Callable[[int, float], None] | None] | None = None) -> RunResult:
    """One run: extract, validate, build features, train or reassign, publish, report — recorded in
    segmentation.pipeline_runs, one run per database at a time. A failure marks the run failed at its
    stage and propagates; what was published before stays as it was."""
    calls = calls or DirectCalls()
    log = log or logging.getLogger("segments")
    calls.run("prepare-database", partial(prepare_database, engine, inputs, log))
    validating = inputs.validation is not None
    # The effective recipe tells later readers (the report) what the run was, e.g. a run on orders.
    recorded = {"mode": inputs.mode, "effective_recipe": inputs.recipe.model_dump(mode="json"),
                **inputs.recorded_parameters}
    with pipeline_lock(engine, inputs.lock_wait_seconds) as lock, RetiredTables(engine) as retired, \
            _data_docs(inputs) as docs, \
            recorded_run(engine, mode_requested=inputs.mode, recipe_name=inputs.recipe.name, parameters=recorded,
                         flow_run_id=inputs.flow_run_id, lock=lock) as record:
        run = Pipeline(engine, inputs, record, docs, retired, log, progress or (lambda what: None))

        contract = calls.start(SOURCE_CONTRACT, run.check_source_contract, run.run_id) if validating else None
        with record.stage("extract"):
            extracted = calls.run("extract", partial(run.extract, contract), run.run_id)
        # The tables replaced since the last run (the previous extract, published partitions and, below,
        # features) are dropped in the background while the run computes; not before the extract commits,
        # as a drop under way makes that commit wait for the file system.
        run.drop_retired_tables()
        as_of = inputs.as_of or extracted.snapshot_date
        record.update(as_of=as_of, rows_extracted=extracted.rows, currency=extracted.currency or None)

        with record.stage("validate"):
            if contract is not None:
                validation = calls.run("validate", partial(run.validate, as_of, contract, extracted.rows),
                                       run.run_id)
                quarantined = validation.quarantined
            else:
                quarantined = (inputs.unvalidated_quarantine(engine, record.run_id)
                               if inputs.unvalidated_quarantine else 0)
        record.update(rows_quarantined=quarantined)

        with record.stage("build-features"):
            modelled = calls.run("build-features", partial(run.build_features, as_of, extracted.snapshot_date),
                                 run.run_id)
        run.drop_retired_tables()  # the previous features
        record.update(rows_modelled=modelled.count)

        with record.stage("train-or-reassign"):
            assignment = calls.run("train-or-reassign", partial(run.train_or_reassign, modelled, as_of),
                                   run.run_id)
        record.update(model_version=assignment.model.model_version)
        modelled_count = modelled.count
        # A trained model whose recipe tiers by expected value: its sample's customers and clusters, to tier
        # its segments once the value stage has predicted them (as training tiered them by past spend).
        tiered_sample = (TieredSample(assignment.model, modelled.sample["customer_id"].to_numpy(),
                                      assignment.labels)
                         if assignment.trained and inputs.recipe.tiers_by == "expected_value" else None)
        del modelled  # the sample is not needed past the model stage

        with record.stage("predict-value"):
            calls.run("predict-value", partial(run.predict_value, as_of, modelled_count, tiered_sample),
                      run.run_id)
        del tiered_sample

        with record.stage("publish"):
            published = calls.run("publish", partial(run.publish, modelled_count, assignment), run.run_id)
        del assignment
        record.succeeded(rows_published=published)

        # The run has published: it succeeded, whatever becomes of its report, whose failure is the report's.
        reported, report_error = None, None
        try:
            with record.stage("report"):
                reported = calls.run("report", run.report, run.run_id)
        except Exception as error:  # noqa: BLE001 (any failure of the report leaves the publish as it is)
            report_error = str(error) or type(error).__name__
            record.report_failed(error)
            log.error("run %s published %s customers, but its report failed: %s", record.run_id, published,
                      report_error)
        record.update(timings=record.timings)
    return RunResult(record.run_id, published, reported, dict(record.timings), report_error)


@contextmanager
def _data_docs(inputs: RunInputs) -> Iterator[DataDocs | None]:
    """The run's Data Docs (built in the background) when it validates; leaving waits for the build."""
    if inputs.validation is None or inputs.data_docs_dir is None:
        yield None
        return
    with DataDocs(inputs.data_docs_dir, inputs.data_docs_runs) as docs:
        yield docs
