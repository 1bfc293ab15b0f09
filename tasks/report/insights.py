"""The insight report's analysis: conversion by band, segment profiles and movements, cluster diagnostics.

Everything is read from the database, so a run's report can be regenerated later. Per-customer
measures (distributions, category and channel mix, silhouettes, PCA) need the run's customers to still
be the published ones (segmentation.customer_segments keeps the current state only); the conversion
tables are stored per run in segmentation.conversion_by_band and survive later runs.

The customers are what the report's cost could grow with, so it reads them in SQL only: one scan for the
conversion tables, which add up its totals per segment and combination of bands; one join with the run's
extract for the category and channel mix; and a sample of bounded size, read from a bounded share of the
table's pages, for the pictures drawn from customers (box plots, silhouettes, PCA).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import sqlalchemy as sa
from psycopg import sql as pgsql
from sqlalchemy.engine import Engine

from tasks.model import registry
from tasks.report.bands import BandsConfig, bands_of
from tasks.errors import SegmentsError
from tasks.extract.customers import EXTRACT_TABLE
from tasks.report.summary import format_amount
from tasks.db.sql import copy_out_frame, identifier, run_sql_file, sql_file

SEGMENT_DIMENSION = "segment"
SPEND_CATEGORIES = ("wines", "fruits", "meat", "fish", "sweets", "gold")
CHANNELS = ("web", "catalog", "store", "deals")
ORDER_MIX_TOP = 5  # categories (and channels) shown by name in an orders run's mix; the rest is "other"
DISTRIBUTION_SAMPLE = 20_000  # box plots: percentiles of a reproducible sample of the run's customers
DIAGNOSTICS_SAMPLE = 3000  # silhouettes are O(n^2): the sample's first customers
# A page sample's size varies: pages are drawn for this many times the customers wanted.
SAMPLE_PAGES_MARGIN = 1.5
DISTRIBUTION_MEASURES = {"income": "mean_income", "age": "mean_age", "monetary": "mean_monetary"}
SILHOUETTE_BLOCK = 500  # rows of the distance matrix computed at once


# -- conversion by band -------------------------------------------------------------------------------
def total_by_band(connection: sa.Connection, run_id: int, bands: BandsConfig) -> None:
    """One scan of the run's published customers into run_band_totals, a temporary table dropped when the
    transaction ends (sql/report/band_totals.sql): the totals the conversion tables add up."""
    params: dict[str, object] = {"run_id": run_id}
    band_orders, band_columns = [], []
    for position, dimension in enumerate(bands.dimensions.values(), start=1):
        params[f"lower_bounds_{position}"] = dimension.lower_bounds()
        params[f"unknown_order_{position}"] = bands_of(dimension)[1]
        band_orders.append(pgsql.SQL(_without_comments(sql_file(
            "report/band_order.sql", value_column=identifier(dimension.column, "bands column"),
            band_name=band_column(position), lower_bounds=pgsql.Placeholder(f"lower_bounds_{position}"),
            unknown_order=pgsql.Placeholder(f"unknown_order_{position}")))))
        band_columns.append(pgsql.Identifier(band_column(position)))
    with grouping_by_hashing(connection):
        run_sql_file(connection, "report/band_totals.sql", params, band_orders=pgsql.SQL(", ").join(band_orders),
                     band_columns=pgsql.SQL(", ").join(band_columns))


def band_column(position: int) -> str:
    """The column of run_band_totals with the customers' band in the bands file's `position`-th dimension."""
    return f"band_{position}"


def _without_comments(fragment: str) -> str:
    """A fragment's SQL without its comment lines, which the statement would repeat once per dimension."""
    return "\n".join(line for line in fragment.splitlines() if not line.lstrip().startswith("--"))


@contextmanager
def grouping_by_hashing(connection: sa.Connection) -> Iterator[None]:
    """Have the planner group by hashing, not by sorting, in the statement run inside. It estimates the groups
    of band_totals.sql from the distinct values of the banded columns (about one income per customer), so it
    would sort every customer; the groups are the combinations of bands, a few thousand at most."""
    connection.exec_driver_sql("SET LOCAL enable_sort = off")
    yield
    connection.exec_driver_sql("RESET enable_sort")


def compute_conversion_by_band(connection: sa.Connection, run_id: int, bands: BandsConfig,
                               currency: str = "") -> int:
    """(Re)compute the run's rows of segmentation.conversion_by_band from its band totals (total_by_band, in
    the same transaction)."""
    run_sql_file(connection, "report/clear_conversion.sql", {"run_id": run_id})
    inserted = 0
    for position, (name, dimension) in enumerate(bands.dimensions.items(), start=1):
        band_list, _ = bands_of(dimension, currency)
        inserted += run_sql_file(connection, "report/conversion_by_band.sql", {
            "run_id": run_id, "dimension": name,
            "band_orders": [band.order for band in band_list], "band_labels": [band.label for band in band_list],
            "band_lowers": [band.lower for band in band_list], "band_uppers": [band.upper for band in band_list],
        }, band_column=band_column(position)).rowcount
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


def distributions_of(sample: pd.DataFrame, profiles: pd.DataFrame) -> pd.DataFrame:
    """Per segment and measure (income, age, monetary): p5, p25, median, p75, p95 of the sampled customers (as
    percentile_cont interpolates), and the mean of all the segment's customers (its profile's)."""
    means = profiles.set_index("segment_id") if not profiles.empty else pd.DataFrame()
    records = []
    for segment_id, customers in sample.groupby("segment_id", sort=True):
        for measure, mean_column in DISTRIBUTION_MEASURES.items():
            values = customers[measure].dropna().to_numpy(dtype="float64")
            if not values.size:
                continue
            p05, p25, p50, p75, p95 = np.percentile(values, [5, 25, 50, 75, 95])
            profile_mean = means.at[segment_id, mean_column] if segment_id in means.index else np.nan
            records.append({"segment_id": int(segment_id), "measure": measure, "customers": values.size,
                            "p05": p05, "p25": p25, "p50": p50, "p75": p75, "p95": p95,
                            "mean": float(values.mean() if pd.isna(profile_mean) else profile_mean)})
    return pd.DataFrame(records, columns=["segment_id", "measure", "customers", "p05", "p25", "p50", "p75", "p95",
                                          "mean"])


def read_order_mix(connection: sa.Connection, run_id: int, as_of, top: int = ORDER_MIX_TOP) -> pd.DataFrame:
    """An orders run, per segment: spend share by category and order share by channel (source.orders only)."""
    rows = run_sql_file(connection, "report/order_mix.sql", {"run_id": run_id, "as_of": as_of, "top": top})
    frame = pd.DataFrame(rows.mappings().all(), columns=["dimension", "segment_id", "value", "place", "measure",
                                                         "share"])
    return frame.astype({"segment_id": "int64", "place": "int64", "measure": "float64", "share": "float64"})


def read_mix(connection: sa.Connection, run_id: int) -> pd.DataFrame:
    """Per segment: mean spend per product category and total purchases per channel (not published). While no
    run has started since, they come from the run's extract, its own snapshot (its source contract made the
    ids unique); otherwise a later run may have replaced the extract, so from source.customers."""
    later_run = run_sql_file(connection, "report/later_runs.sql", {"run_id": run_id, "limit": 1}).first()
    detail = EXTRACT_TABLE if later_run is None else pgsql.SQL(_without_comments(
        sql_file("report/source_customer_detail.sql")))
    frame = copy_out_frame(connection, sql_file("report/segment_mix.sql", detail=detail), {"run_id": run_id})
    return frame.astype({column: "float64" for column in frame.columns if column != "segment_id"})


def read_customer_sample(connection: sa.Connection, run_id: int, population: int, size: int) -> pd.DataFrame:
    """A reproducible sample of at most `size` of the run's `population` published customers, ordered by a hash
    of their id (so its first rows are a sample too); sql/report/customer_sample.sql."""
    percent = min(100.0, 100.0 * SAMPLE_PAGES_MARGIN * size / max(population, 1))
    return copy_out_frame(connection, sql_file("report/customer_sample.sql"),
                          {"run_id": run_id, "percent": percent, "size": size})


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


def cluster_diagnostics(sample: pd.DataFrame, model: registry.StoredModel, population: int) -> ClusterDiagnostics:
    """Silhouette per sampled customer (by published segment) and PCA of the model's preprocessed features."""
    points = model.preprocessing.transform(sample)
    segment_ids = sample["segment_id"].to_numpy(dtype="int64")
    silhouettes = None
    if len(set(segment_ids.tolist())) >= 2 and len(points) >= 3:
        silhouettes = silhouette_values(points, segment_ids)
    diagnostics = ClusterDiagnostics(len(sample), population, segment_ids, silhouettes, None)
    if points.shape[1] >= 2 and len(points) >= 2:
        centre, components, explained = principal_components(points)
        diagnostics.coordinates = (points - centre) @ components.T
        diagnostics.explained_variance = [float(share) for share in explained]
        projected = (model.centroids - centre) @ components.T
        diagnostics.centroid_coordinates = {
            model.label_for(index).segment_id: (float(projected[index, 0]), float(projected[index, 1]))
            for index in range(len(model.centroids))}
    return diagnostics


def silhouette_values(points: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Each point's silhouette (Rousseeuw 1987) with Euclidean distances, as sklearn.metrics.silhouette_samples
    computes it: (b - a) / max(a, b), a the mean distance to the other points of its cluster, b the smallest
    mean distance to another cluster's points; 0 for a point alone in its cluster."""
    clusters, members = np.unique(labels, return_inverse=True)
    membership = np.eye(len(clusters))[members]
    sizes = membership.sum(axis=0)
    squares = np.einsum("ij,ij->i", points, points)
    distance_sums = np.empty((len(points), len(clusters)))
    for start in range(0, len(points), SILHOUETTE_BLOCK):
        stop = min(start + SILHOUETTE_BLOCK, len(points))
        distances = points[start:stop] @ points.T  # |a - b|^2 = |a|^2 + |b|^2 - 2 a.b, in place
        distances *= -2.0
        distances += squares[None, :]
        distances += squares[start:stop, None]
        distances[np.arange(stop - start), np.arange(start, stop)] = 0.0  # exactly, not rounded
        np.maximum(distances, 0.0, out=distances)
        distance_sums[start:stop] = np.sqrt(distances, out=distances) @ membership
    rows = np.arange(len(points))
    own_size = sizes[members]
    within = distance_sums[rows, members] / np.maximum(own_size - 1, 1)
    to_others = distance_sums / sizes
    to_others[rows, members] = np.inf
    nearest = to_others.min(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        values = (nearest - within) / np.maximum(within, nearest)
    return np.where(own_size > 1, np.nan_to_num(values), 0.0)


def principal_components(points: np.ndarray, count: int = 2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The points' centre, their first `count` principal axes (rows; each axis's largest loading positive, as
    scikit-learn's PCA signs them) and the share of the variance each explains."""
    centre = points.mean(axis=0)
    _, singular_values, axes = np.linalg.svd(points - centre, full_matrices=False)
    signs = np.sign(axes[np.arange(len(axes)), np.abs(axes).argmax(axis=1)])
    axes *= np.where(signs == 0, 1.0, signs)[:, None]
    variances = singular_values ** 2
    explained = variances / variances.sum() if variances.sum() > 0 else np.zeros_like(variances)
    return centre, axes[:count], explained[:count]


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
    sampled_customers: int = 0  # customers in the sample the distributions and diagnostics are drawn from
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
        if self.profiles.empty:
            return {}
        return {int(segment_id): name for segment_id, name in zip(self.profiles["segment_id"],
                                                                  self.profiles["segment_name"])}


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


def gather_insights(engine: Engine, run_id: int, bands: BandsConfig) -> RunInsights:
    """Everything the report shows for a run; recomputes its conversion rows while its customers are current."""
    with engine.begin() as connection:
        run = read_run(connection, run_id)
        currency = run_sql_file(connection, "report/run_currency.sql", {"run_id": run_id}).scalar() or ""
        customers_current = bool(run_sql_file(connection, "report/run_customers_current.sql",
                                              {"run_id": run_id}).scalar())
        # An orders source has no campaign response, demographics or spend categories: those analyses are
        # left out (the report says so), the rest reads the published rows as for any source.
        on_orders = ((run.get("parameters") or {}).get("effective_recipe") or {}).get("source") == "orders"
        if customers_current and not on_orders:
            total_by_band(connection, run_id, bands)
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
            insights.mix = read_mix(connection, run_id)
            population = insights.overall["customers"]
            sample = read_customer_sample(connection, run_id, population, DISTRIBUTION_SAMPLE)
            insights.distributions = distributions_of(sample, insights.profiles)
            insights.sampled_customers = len(sample)
            if model is not None:
                insights.diagnostics = cluster_diagnostics(sample.head(DIAGNOSTICS_SAMPLE), model, population)
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
