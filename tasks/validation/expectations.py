"""Great Expectations expectations of our own, for one column or columns that share a rule:
`expect_column_list_values_to_be_between`, `expect_column_list_values_to_be_in_set`,
`expect_column_list_values_to_not_be_null` and `expect_column_list_values_to_be_unique`.

Each counts the rows where some listed column breaks the rule (a value out of range or out of the set,
nulls ignored, as expect_column_values_to_be_between and _to_be_in_set do for one column; a null; or a
repeat of an earlier row's values). The count is one aggregate that GX bundles into the suite's query
with the table's row count: one scan for the whole suite. GX's column expectations count in a later round
of its metrics (each count depends on its condition), so a suite that has any costs a second scan; and
one expectation for a list of columns costs less in the aggregate query than one per column. With
result_format SUMMARY the rule's expectations add a sample of the rows that break it, each with the
values that break it (for one column, the values, as GX's column expectations list them), looked for only
where the count found some: a suite of these runs in one pass, its samples included
(tasks.validation.gx_runner.run_suite).

Importing this module registers the expectations and their metrics with GX (tasks.validation.gx_runner
imports it with GX).
"""

from __future__ import annotations

import math
from abc import abstractmethod
from datetime import date
from typing import Any, ClassVar, Optional, Union

from great_expectations.compatibility import pydantic
from great_expectations.compatibility.sqlalchemy import sqlalchemy as gx_sa
from great_expectations.core.metric_domain_types import MetricDomainTypes
from great_expectations.core.metric_function_types import MetricPartialFunctionTypes
from great_expectations.core.suite_parameters import SuiteParameterDict
from great_expectations.execution_engine import SqlAlchemyExecutionEngine
from great_expectations.expectations.expectation import BatchExpectation
from great_expectations.expectations.metrics.metric_provider import metric_partial, metric_value
from great_expectations.expectations.metrics.table_metric_provider import TableMetricProvider
from great_expectations.expectations.model_field_types import ValueSetField
from great_expectations.expectations.registry import get_metric_kwargs
from great_expectations.render import LegacyRendererType, RenderedStringTemplateContent
from great_expectations.render.renderer.renderer import renderer
from great_expectations.validator.metric_configuration import MetricConfiguration

ROWS_BREAKING = "column_list.rows_breaking.count"
ROWS_REPEATING = "column_list.rows_repeating.count"
ROWS_BREAKING_SAMPLE = "column_list.rows_breaking.sample"
RULE_KEYS = ("column_list", "min_value", "max_value", "value_set", "nulls_break")
# An integer stays one (a numeric column compares exactly); a date compares with a date column; a suite
# parameter ($PARAMETER) is one of these once GX substitutes it.
Bound = Optional[Union[pydantic.StrictInt, float, SuiteParameterDict, date]]


def _breaks(value: Any, rule: dict) -> bool:
    """Whether PostgreSQL's test (_breaking) finds that `value` breaks the rule: NaN sorts above every number
    there."""
    low, high, value_set = rule["min_value"], rule["max_value"], rule["value_set"]
    if value is None:
        return rule["nulls_break"]
    if value_set is not None and value not in value_set:
        return True
    if isinstance(value, float) and math.isnan(value):
        return high is not None
    return (low is not None and value < low) or (high is not None and value > high)


def _breaking(rule: dict) -> Any:
    """True where some listed column breaks the rule; false or NULL (not counted) where none does."""
    tests = []
    for name in rule["column_list"]:
        column = gx_sa.column(name)
        if rule["nulls_break"]:
            tests.append(column.is_(None))
        if rule["min_value"] is not None:
            tests.append(column < rule["min_value"])
        if rule["max_value"] is not None:
            tests.append(column > rule["max_value"])
        if rule["value_set"] is not None:
            tests.append(column.not_in(rule["value_set"]))
    return gx_sa.or_(*tests)


class ColumnListRowsBreaking(TableMetricProvider):
    """How many rows have a listed column that breaks the rule: one aggregate, bundled."""

    metric_name = ROWS_BREAKING
    value_keys = RULE_KEYS

    @metric_partial(engine=SqlAlchemyExecutionEngine, partial_fn_type=MetricPartialFunctionTypes.AGGREGATE_FN,
                    domain_type=MetricDomainTypes.TABLE)
    def _sqlalchemy(cls, execution_engine: SqlAlchemyExecutionEngine, metric_domain_kwargs: dict,
                    metric_value_kwargs: dict, metrics: dict[str, Any], runtime_configuration: dict) -> tuple:
        return gx_sa.func.count().filter(_breaking(metric_value_kwargs)), metric_domain_kwargs, {}


class ColumnListRowsRepeating(TableMetricProvider):
    """How many rows repeat an earlier row's values of the listed columns (rows with a null among them are
    not checked): one aggregate, bundled (its count(DISTINCT) sorts the values, or reads them in order from
    an index)."""

    metric_name = ROWS_REPEATING
    value_keys = ("column_list",)

    @metric_partial(engine=SqlAlchemyExecutionEngine, partial_fn_type=MetricPartialFunctionTypes.AGGREGATE_FN,
                    domain_type=MetricDomainTypes.TABLE)
    def _sqlalchemy(cls, execution_engine: SqlAlchemyExecutionEngine, metric_domain_kwargs: dict,
                    metric_value_kwargs: dict, metrics: dict[str, Any], runtime_configuration: dict) -> tuple:
        columns = [gx_sa.column(name) for name in metric_value_kwargs["column_list"]]
        complete = gx_sa.and_(*[column.isnot(None) for column in columns])
        values = columns[0] if len(columns) == 1 else gx_sa.tuple_(*columns)
        repeating = (gx_sa.func.count().filter(complete)
                     - gx_sa.func.count(gx_sa.distinct(values)).filter(complete))
        return repeating, metric_domain_kwargs, {}


class ColumnListRowsBreakingSample(TableMetricProvider):
    """A few rows that break the rule: for each, the listed columns that break it and their values. None
    where the count (which GX computes first, in the suite's one query) found none: looking for them would
    read the whole table."""

    metric_name = ROWS_BREAKING_SAMPLE
    value_keys = (*RULE_KEYS, "sample_size")

    @classmethod
    def _get_evaluation_dependencies(cls, metric: MetricConfiguration, configuration: Any = None,
                                     execution_engine: Any = None, runtime_configuration: dict | None = None) -> dict:
        dependencies = super()._get_evaluation_dependencies(
            metric=metric, configuration=configuration, execution_engine=execution_engine,
            runtime_configuration=runtime_configuration)
        # The same configuration as the expectation's count: GX computes it once.
        dependencies[ROWS_BREAKING] = MetricConfiguration(
            metric_name=ROWS_BREAKING, metric_domain_kwargs=metric.metric_domain_kwargs,
            metric_value_kwargs={key: metric.metric_value_kwargs[key] for key in RULE_KEYS})
        return dependencies

    @metric_value(engine=SqlAlchemyExecutionEngine)
    def _sqlalchemy(cls, execution_engine: SqlAlchemyExecutionEngine, metric_domain_kwargs: dict,
                    metric_value_kwargs: dict, metrics: dict[str, Any], runtime_configuration: dict) -> list:
        if not metrics[ROWS_BREAKING]:
            return []
        rule = metric_value_kwargs
        names = rule["column_list"]
        selectable, _, _ = execution_engine.get_compute_domain(metric_domain_kwargs, MetricDomainTypes.TABLE)
        query = (gx_sa.select(*[gx_sa.column(name) for name in names]).select_from(selectable)
                 .where(_breaking(rule)).limit(rule["sample_size"]))
        rows = execution_engine.execute_query(query).fetchall()
        if len(names) == 1:
            return [value for value, in rows]
        return [{name: value for name, value in zip(names, row, strict=True) if _breaks(value, rule)}
                for row in rows]


class ColumnListExpectation(BatchExpectation):
    """One rule for a list of columns: the rows where some listed column breaks it are the unexpected ones."""

    column_list: list[pydantic.StrictStr] = pydantic.Field(min_items=1)

    metric_dependencies = ("table.row_count",)
    # The count of the rows that break the rule, and the sample of them that result_format SUMMARY adds
    # (None: no sample).
    count_metric: ClassVar[str] = ROWS_BREAKING
    sample_metric: ClassVar[str | None] = ROWS_BREAKING_SAMPLE
    domain_keys: ClassVar[tuple[str, ...]] = ("batch_id", "row_condition", "condition_parser")
    success_keys: ClassVar[tuple[str, ...]] = ("column_list",)
    args_keys: ClassVar[tuple[str, ...]] = ("column_list",)

    @abstractmethod
    def rule(self) -> dict[str, Any]:
        """The metrics' value kwargs: column_list, min_value, max_value, value_set, nulls_break."""

    @classmethod
    @abstractmethod
    def rule_text(cls, kwargs: dict) -> str:
        """What Data Docs say each listed column's values must be, a template on `kwargs`."""

    def get_validation_dependencies(self, execution_engine: Any = None, runtime_configuration: dict | None = None):
        dependencies = super().get_validation_dependencies(execution_engine=execution_engine,
                                                           runtime_configuration=runtime_configuration)
        domain = get_metric_kwargs(metric_name=self.count_metric, configuration=self.configuration,
                                   runtime_configuration=runtime_configuration)["metric_domain_kwargs"]
        dependencies.set_metric_configuration(self.count_metric, MetricConfiguration(
            metric_name=self.count_metric, metric_domain_kwargs=domain, metric_value_kwargs=self.rule()))
        if self.sample_metric is not None and dependencies.result_format.get("result_format") != "BOOLEAN_ONLY":
            sample_size = dependencies.result_format.get("partial_unexpected_count", 20)
            dependencies.set_metric_configuration(self.sample_metric, MetricConfiguration(
                metric_name=self.sample_metric, metric_domain_kwargs=domain,
                metric_value_kwargs={**self.rule(), "sample_size": sample_size}))
        return dependencies

    def _validate(self, metrics: dict, runtime_configuration: dict | None = None,
                  execution_engine: Any = None) -> dict:
        unexpected = int(metrics[self.count_metric])
        rows = int(metrics["table.row_count"])
        result: dict[str, Any] = {"observed_value": unexpected, "element_count": rows,
                                  "unexpected_count": unexpected,
                                  "unexpected_percent": 100.0 * unexpected / rows if rows else None}
        if self.sample_metric in metrics:
            result["partial_unexpected_list"] = metrics[self.sample_metric]
        return {"success": unexpected == 0, "result": result}

    @classmethod
    @renderer(renderer_type=LegacyRendererType.PRESCRIPTIVE)
    def _prescriptive_renderer(cls, configuration: Any = None, result: Any = None,
                               runtime_configuration: dict | None = None) -> list:
        kwargs = configuration.kwargs if configuration is not None else result.expectation_config.kwargs
        return [RenderedStringTemplateContent(content_block_type="string_template", string_template={
            "template": "values of $columns must " + cls.rule_text(kwargs) + ".",
            "params": {"columns": ", ".join(kwargs["column_list"]), "min_value": kwargs.get("min_value"),
                       "max_value": kwargs.get("max_value"), "value_set": kwargs.get("value_set")},
            "styling": (runtime_configuration or {}).get("styling", {})})]


class ExpectColumnListValuesToBeBetween(ColumnListExpectation):
    """Expect each listed column's values to be between min_value and max_value (inclusive; nulls are not
    checked), as expect_column_values_to_be_between does for one column."""

    min_value: Bound = None
    max_value: Bound = None

    success_keys: ClassVar[tuple[str, ...]] = ("column_list", "min_value", "max_value")
    args_keys: ClassVar[tuple[str, ...]] = ("column_list", "min_value", "max_value")

    @pydantic.root_validator(skip_on_failure=True)
    def _a_bound(cls, values: dict) -> dict:  # noqa: N805 (pydantic validator)
        if values.get("min_value") is None and values.get("max_value") is None:
            raise ValueError("expect_column_list_values_to_be_between needs min_value or max_value")
        return values

    def rule(self) -> dict[str, Any]:
        return {"column_list": self.column_list, "min_value": self.min_value, "max_value": self.max_value,
                "value_set": None, "nulls_break": False}

    @classmethod
    def rule_text(cls, kwargs: dict) -> str:
        bounds = [text for text, key in (("greater than or equal to $min_value", "min_value"),
                                         ("less than or equal to $max_value", "max_value"))
                  if kwargs.get(key) is not None]
        return "be " + " and ".join(bounds) + " (nulls are not checked)"


class ExpectColumnListValuesToBeInSet(ColumnListExpectation):
    """Expect each listed column's values to be in value_set (nulls are not checked), as
    expect_column_values_to_be_in_set does for one column."""

    value_set: ValueSetField

    success_keys: ClassVar[tuple[str, ...]] = ("column_list", "value_set")
    args_keys: ClassVar[tuple[str, ...]] = ("column_list", "value_set")

    def rule(self) -> dict[str, Any]:
        return {"column_list": self.column_list, "min_value": None, "max_value": None,
                "value_set": list(self.value_set), "nulls_break": False}

    @classmethod
    def rule_text(cls, kwargs: dict) -> str:
        return "be in $value_set (nulls are not checked)"


class ExpectColumnListValuesToNotBeNull(ColumnListExpectation):
    """Expect no listed column to hold a null, as expect_column_values_to_not_be_null does for one column."""

    def rule(self) -> dict[str, Any]:
        return {"column_list": self.column_list, "min_value": None, "max_value": None, "value_set": None,
                "nulls_break": True}

    @classmethod
    def rule_text(cls, kwargs: dict) -> str:
        return "never be null"


class ExpectColumnListValuesToBeUnique(ColumnListExpectation):
    """Expect no row to repeat another's values of the listed columns (rows with a null among them are not
    checked), as expect_column_values_to_be_unique does for one column, but counted in the suite's one query.
    The unexpected rows are the repeats beyond each value's first row; no sample lists them (a suite names
    expect_column_values_to_be_unique in meta.explained_by for the repeated values)."""

    count_metric: ClassVar[str] = ROWS_REPEATING
    sample_metric: ClassVar[str | None] = None

    def rule(self) -> dict[str, Any]:
        return {"column_list": self.column_list}

    @classmethod
    def rule_text(cls, kwargs: dict) -> str:
        together = " together" if len(kwargs["column_list"]) > 1 else ""
        return f"be unique{together} (rows with a null are not checked)"
