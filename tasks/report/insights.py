"""The insight report's analysis: conversion by band, segment profiles and movements, cluster diagnostics.

Everything is read from the database, so a run's report can be regenerated later. Per-customer
measures (distributions, category and channel mix, silhouettes, PCA) need the run's customers to still
be the published ones (segmentation.customer_segments keeps the current state only); the conversion
tables are stored per run in segmentation.conversion_by_band and survive later runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sklearn.decomposition import PCA
from sklearn.metrics import silhouette_samples
from sqlalchemy.engine import Engine

from tasks.model import registry
from tasks.report.bands import BandsConfig, bands_of
from tasks.errors import SegmentsError
from tasks.report.summary import format_amount
from tasks.db.sql import copy_out_frame, identifier, run_sql_file, sql_file

SEGMENT_DIMENSION = "segment"
SPEND_CATEGORIES = ("wines", "fruits", "meat", "fish", "sweets", "gold")
CHANNELS = ("web", "catalog", "store", "deals")
ORDER_MIX_TOP = 5  # categories (and channels) shown by name in an orders run's mix; the rest is "other"
DIAGNOSTICS_SAMPLE = 3000  # silhouettes are O(n^2): a reproducible sample of the run's customers


# -- conversion by band ------------------------------------------------------------------------------
def compute_conversion_by_band(connection: sa.Connection, run_id: int, bands: BandsConfig,
                               currency: str = "") -> int:
    """(Re)compute the run's rows of segmentation.conversion_by_band from its published customers."""
    run_sql_file(connection, "report/clear_conversion.sql", {"run_id": run_id})
    inserted = 0
    for name, dimension in bands.dimensions.items():
        band_list, unknown_order = bands_of(dimension, currency)
        inserted += run_sql_file(connection, "report/conversion_by_band.sql", {
            "run_id": run_id, "dimension": name, "lower_bounds": dimension.lower_bounds(),
            "unknown_order": unknown_order,
            "band_orders": [band.order for band in band_list], "band_labels": [band.label for band in band_list],
            "band_lowers": [band.lower for band in band_list], "band_uppers": [band.upper for band in band_list],
        }, value_column=identifier(dimension.column, "bands column")).rowcount
    inserted += run_sql_file(connection, "report/conversion_by_segment.sql", {"run_id": run_id}).rowcount
    return inserted


def read_conversion(connection: sa.Connection, run_id: int, dimension_order: list[str] | None = None
                    ) -> pd.DataFrame:
    """The run's conversion rows: segments first, then `dimension_order` (others alphabetically), by band."""
    rows = run_sql_file(connection, "report/run_conversion.sql", {"run_id": run_id}).mappings().all()
    columns = ["run_id", "dimension", "band_order", "band_label", "lower", "upper", "customers", "responders",
               "response_rate", "ci_low", "ci_high", "mean_conversion", "zero_visit_customers",
               "purchases_per_visit"]
    frame = pd.DataFrame([dict(row) for row in rows], columns=columns)
    order = [SEGMENT_DIMENSION, *(dimension_order or [])]
    rank = {name: position for position, name in enumerate(order)}
    frame["_rank"] = [(rank.get(name, len(order)), name) for name in frame["dimension"]]
    return frame.sort_values(["_rank", "band_order"]).drop(columns="_rank").reset_index(drop=True)


def overall_response(conversion: pd.DataFrame, connection: sa.Connection) -> dict:
    """All published customers of the run: customers, responders, response rate and its Wilson interval."""
    segments = conversion[conversion["dimension"] == SEGMENT_DIMENSION]
    customers, responders = int(segments["customers"].sum()), int(segments["responders"].sum())
    low, high = run_sql_file(connection, "report/wilson_interval.sql",
                             {"responders": responders, "customers": customers}).one()
    return {"customers": customers, "responders": responders,
            "response_rate": responders / customers if customers else None, "ci_low": low, "ci_high": high}


# -- segment profiles ---------------------------------------------------------------------------------
def read_profiles(connection: sa.Connection, run_id: int) -> pd.DataFrame:
    """segment_profiles of the run (tier order) with the size and tier of each segment in the previous run."""
    profiles = pd.DataFrame([dict(row) for row in run_sql_file(
        connection, "report/run_profiles.sql", {"run_id": run_id}).mappings()])
    movements = read_movements(connection, run_id)
    if profiles.empty:
        return profiles
    moved = movements[["segment_id", "previous_tier", "previous_customers", "customers_delta"]]
    merged = movements[["segment_id"]].merge(profiles, on="segment_id").merge(moved, on="segment_id")
    return merged.reset_index(drop=True)


def read_movements(connection: sa.Connection, run_id: int) -> pd.DataFrame:
    """Per segment: customers now and in the previous run, the change, and tiers (sql/report/segment_movements.sql)."""
    result = run_sql_file(connection, "report/segment_movements.sql", {"run_id": run_id})
    return pd.DataFrame([dict(row) for row in result.mappings()],
                        columns=["segment_id", "segment_name", "tier", "previous_tier", "customers",
                                 "previous_customers", "customers_delta", "previous_run_id"])


def read_distributions(connection: sa.Connection, run_id: int) -> pd.DataFrame:
    """Per segment and measure (income, age, monetary): p5, p25, median, p75, p95, mean."""
    rows = run_sql_file(connection, "report/segment_distributions.sql", {"run_id": run_id}).mappings()
    records = []
    for row in rows:
        p05, p25, p50, p75, p95 = (float(value) for value in row["percentiles"])
        records.append({"segment_id": row["segment_id"], "measure": row["measure"], "customers": row["customers"],
                        "p05": p05, "p25": p25, "p50": p50, "p75": p75, "p95": p95, "mean": float(row["mean"])})
    return pd.DataFrame(records, columns=["segment_id", "measure", "customers", "p05", "p25", "p50", "p75", "p95",
                                          "mean"])


def read_order_mix(connection: sa.Connection, run_id: int, as_of, top: int = ORDER_MIX_TOP) -> pd.DataFrame:
    """An orders run, per segment: spend share by category and order share by channel (source.orders only)."""
    rows = run_sql_file(connection, "report/order_mix.sql", {"run_id": run_id, "as_of": as_of, "top": top})
    frame = pd.DataFrame(rows.mappings().all(), columns=["dimension", "segment_id", "value", "place", "measure",
                                                         "share"])
    return frame.astype({"segment_id": "int64", "place": "int64", "measure": "float64", "share": "float64"})


def read_mix(connection: sa.Connection, run_id: int) -> pd.DataFrame:
    """Per segment: mean spend per product category and total purchases per channel."""
    frame = copy_out_frame(connection, sql_file("report/segment_mix.sql"), {"run_id": run_id})
    return frame.astype({column: "float64" for column in frame.columns if column != "segment_id"})


# -- cluster diagnostics ------------------------------------------------------------------------------
@dataclass
class ClusterDiagnostics:
    """Silhouettes and a 2-D PCA projection of a sample of the run's customers, in the model's space."""

    sample_size: int
    population: int
    segment_ids: np.ndarray
    silhouettes: np.ndarray | None
    coordinates: np.ndarray | None
    explained_variance: list[float] = field(default_factory=list)
    centroid_coordinates: dict[int, tuple[float, float]] = field(default_factory=dict)

    def silhouette_by_segment(self) -> pd.DataFrame:
        if self.silhouettes is None:
            return pd.DataFrame(columns=["segment_id", "customers", "mean_silhouette", "negative_share"])
        frame = pd.DataFrame({"segment_id": self.segment_ids, "silhouette": self.silhouettes})
        grouped = frame.groupby("segment_id")["silhouette"]
        return pd.DataFrame({"customers": grouped.size(), "mean_silhouette": grouped.mean(),
                             "negative_share": grouped.apply(lambda values: float((values < 0).mean()))}
                            ).reset_index()


def cluster_diagnostics(sample: pd.DataFrame, model: registry.StoredModel, population: int,
                        seed: int = 0) -> ClusterDiagnostics:
    """Silhouette per sampled customer (by published segment) and PCA of the model's preprocessed features."""
    points = model.preprocessing.transform(sample)
    segment_ids = sample["segment_id"].to_numpy(dtype="int64")
    silhouettes = None
    if len(set(segment_ids.tolist())) >= 2 and len(points) >= 3:
        silhouettes = silhouette_samples(points, segment_ids)
    diagnostics = ClusterDiagnostics(len(sample), population, segment_ids, silhouettes, None)
    if points.shape[1] >= 2 and len(points) >= 2:
        pca = PCA(n_components=2, random_state=seed).fit(points)
        diagnostics.coordinates = pca.transform(points)
        diagnostics.explained_variance = [float(share) for share in pca.explained_variance_ratio_]
        projected = pca.transform(model.centroids)
        diagnostics.centroid_coordinates = {
            model.label_for(index).segment_id: (float(projected[index, 0]), float(projected[index, 1]))
            for index in range(len(model.centroids))}
    return diagnostics


# -- everything the report shows ---------------------------------------------------------------------
@dataclass
class RunInsights:
    run: dict
    currency: str
    conversion: pd.DataFrame
    overall: dict
    profiles: pd.DataFrame
    movements: pd.DataFrame
    customers_current: bool
    republished_by: int | None = None
    distributions: pd.DataFrame | None = None
    mix: pd.DataFrame | None = None
    order_mix: pd.DataFrame | None = None  # an orders run: category and channel shares from source.orders
    model: dict = field(default_factory=dict)
    diagnostics: ClusterDiagnostics | None = None
    value_model: dict | None = None  # an orders run's BG/NBD and Gamma-Gamma fit, with its holdout check

    @property
    def run_id(self) -> int:
        return int(self.run["run_id"])

    @property
    def source(self) -> str:
        """customers (a profile source, with campaign and spend columns) or orders (purchase days only)."""
        recipe = (self.run.get("parameters") or {}).get("effective_recipe") or {}
        return str(recipe.get("source", "customers"))

    @property
    def selection(self) -> dict:
        return (self.model.get("metrics") or {}).get("selection") or {}

    @property
    def previous_run_id(self) -> int | None:
        ids = self.movements["previous_run_id"].dropna()
        return int(ids.iloc[0]) if len(ids) else None

    def segment_order(self) -> list[int]:
        """Segment ids in report order (tier, then value), the order every chart uses."""
        return [int(segment_id) for segment_id in self.profiles["segment_id"]] if not self.profiles.empty else []

    def segment_names(self) -> dict[int, str]:
        return {int(row.segment_id): row.segment_name for row in self.profiles.itertuples()}


def read_run(connection: sa.Connection, run_id: int) -> dict:
    run = run_sql_file(connection, "report/pipeline_run.sql", {"run_id": run_id}).mappings().first()
    if run is None:
        raise SegmentsError(f"run {run_id} not found in segmentation.pipeline_runs: `segments sql \"SELECT run_id, "
                            "status FROM segmentation.pipeline_runs\"` lists the runs")
    if run["status"] != "succeeded":
        where = f" at stage {run['failed_stage']}" if run["failed_stage"] else ""
        raise SegmentsError(f"run {run_id} is {run['status']}{where}: a report needs a succeeded run")
    return dict(run)


def latest_reportable_run(connection: sa.Connection) -> int:
    run_id = run_sql_file(connection, "report/latest_reportable_run.sql").scalar()
    if run_id is None:
        raise SegmentsError("no run has published segments yet: run `segments run` first")
    return int(run_id)


def gather_insights(engine: Engine, run_id: int, bands: BandsConfig, *, sample_size: int = DIAGNOSTICS_SAMPLE
                    ) -> RunInsights:
    """Everything the report shows for a run; recomputes its conversion rows while its customers are current."""
    with engine.begin() as connection:
        run = read_run(connection, run_id)
        currency = run_sql_file(connection, "report/run_currency.sql", {"run_id": run_id}).scalar() or ""
        population = int(run_sql_file(connection, "report/run_customers.sql", {"run_id": run_id}).scalar())
        customers_current = population > 0
        # An orders source has no campaign response, demographics or spend categories: those analyses are
        # left out (the report says so), the rest reads the published rows as for any source.
        on_orders = ((run.get("parameters") or {}).get("effective_recipe") or {}).get("source") == "orders"
        if customers_current and not on_orders:
            compute_conversion_by_band(connection, run_id, bands, currency)
        conversion = read_conversion(connection, run_id, list(bands.dimensions))
        insights = RunInsights(
            run=run, currency=currency, conversion=conversion, overall=overall_response(conversion, connection),
            profiles=read_profiles(connection, run_id), movements=read_movements(connection, run_id),
            customers_current=customers_current)
        if not customers_current and run["rows_published"]:
            insights.republished_by = run_sql_file(connection, "report/republishing_run.sql",
                                                   {"run_id": run_id}).scalar()
        model = registry.read_model(connection, run["model_version"]) if run["model_version"] else None
        if model is not None:
            trained_by = run_sql_file(connection, "report/model_training_run.sql",
                                      {"model_version": model.model_version}).scalar()
            insights.model = {"model_version": model.model_version, "trained_by_run": trained_by,
                              "trained_at": model.trained_at, "recipe_name": model.recipe_name,
                              "features": model.features, "metrics": model.metrics,
                              "training_rows": model.training_rows}
        value_model = run_sql_file(connection, "report/run_value_model.sql", {"run_id": run_id}).mappings().first()
        insights.value_model = dict(value_model) if value_model else None
        if customers_current and not on_orders:
            insights.distributions = read_distributions(connection, run_id)
            insights.mix = read_mix(connection, run_id)
            if model is not None:
                sample = copy_out_frame(connection, sql_file("report/customer_sample.sql"),
                                        {"run_id": run_id, "size": sample_size})
                insights.diagnostics = cluster_diagnostics(sample, model, population,
                                                           seed=int(model.recipe.get("random_state", 0)))
        if customers_current and on_orders:
            insights.order_mix = read_order_mix(connection, run_id, run["as_of"])
    return insights


# -- what the marketing team should notice -------------------------------------------------------------
def highlights(insights: RunInsights, min_customers: int = 30) -> list[str]:
    """Plain sentences: overall response, the best-responding band of each dimension, sizes that moved."""
    overall = insights.overall
    lines: list[str] = []
    if not overall["customers"]:
        return ["This run published no customers (dry run or empty source): there is nothing to analyse."]
    rate = overall["response_rate"]
    lines.append(f"{overall['responders']:,} of {overall['customers']:,} customers accepted the last campaign: "
                 f"{rate:.1%} (95% CI {overall['ci_low']:.1%}–{overall['ci_high']:.1%}).")
    for dimension, rows in insights.conversion.groupby("dimension", sort=False):
        large = rows[rows["customers"] >= min_customers].dropna(subset=["response_rate"])
        if large.empty:
            continue
        best = large.loc[large["response_rate"].idxmax()]
        label = "segment" if dimension == SEGMENT_DIMENSION else f"{dimension} band"
        verdict = ("clearly above the overall rate (its whole 95% interval is)" if best["ci_low"] > rate
                   else "but its 95% interval includes the overall rate, so treat it as a hint")
        lines.append(f"Best-responding {label}: {best['band_label']} — {best['response_rate']:.1%} of "
                     f"{int(best['customers']):,} customers ({best['response_rate'] / rate:.1f}× overall), {verdict}."
                     if rate else f"Best-responding {label}: {best['band_label']}.")
    if not insights.profiles.empty:
        top = insights.profiles.loc[insights.profiles["gmv_annual"].idxmax()]
        lines.append(f"{top['segment_name']} ({top['tier']}) brings the most value: "
                     f"{format_amount(top['gmv_annual'], insights.currency)} a year from {top['share']:.0%} of "
                     "customers.")
    moved = insights.movements.dropna(subset=["customers_delta"])
    moved = moved[moved["customers_delta"] != 0]
    if insights.previous_run_id is not None:
        if moved.empty:
            lines.append(f"No segment changed size since run {insights.previous_run_id}.")
        else:
            biggest = moved.loc[moved["customers_delta"].abs().idxmax()]
            lines.append(f"Largest change since run {insights.previous_run_id}: {biggest['segment_name']} "
                         f"{int(biggest['customers_delta']):+,} customers.")
    return lines
