"""A stored model's nearest-centroid assignment as SQL expressions, to place every customer in the database.

Per feature, as tasks/model/kmeans.py does it: impute -> cap -> transform (log / log1p) -> (x - offset) / divisor;
then, per centroid c, |c|^2 - 2 x.c (the expansion tasks/model.assign_nearest uses; |x|^2 is the same for
every centroid, so it is added once, to the least). The expressions are composed with psycopg.sql: the
model's numbers are bound parameters (placeholders), and the only names are the model's features, checked
against the feature catalog and quoted as identifiers, and the columns these expressions name.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from psycopg import sql as pgsql

from tasks.db.sql import identifier
from tasks.errors import ConfigurationError
from tasks.features.recipes import FEATURE_CATALOG
from tasks.model.kmeans import Preprocessing

SMALLEST_NORMAL = float(np.finfo("float64").tiny)  # log's floor, as in tasks/model/kmeans.py

# One expression per line of a level's select list, for a statement a person can read (pg_stat_activity).
_LIST_SEPARATOR = pgsql.SQL(",\n       ")


@dataclass(frozen=True)
class ScoringSql:
    """The select lists of the three levels of sql/publish/stage_assignments.sql, and their parameters."""

    scaled: pgsql.Composable  # scaled_0, scaled_1, ...: the customer in the model's space
    partial: pgsql.Composable  # squared_norm, partial_0, ...: |x|^2, and |c|^2 - 2 x.c per centroid
    nearest: pgsql.Composable  # least_partial: the least of the partials
    cluster_index: pgsql.Composable  # the first centroid whose partial is the least
    parameters: dict[str, float | int]


def scoring_sql(preprocessing: Preprocessing, centroids: np.ndarray) -> ScoringSql:
    centroids = np.asarray(centroids, dtype="float64")
    if centroids.ndim != 2 or centroids.shape[1] != len(preprocessing.features) or not len(centroids):
        raise ConfigurationError(f"the model has centroids of shape {centroids.shape} for "
                                 f"{len(preprocessing.features)} features")
    parameters: dict[str, float | int] = {"smallest_normal": SMALLEST_NORMAL}
    scaled = []
    for position, feature in enumerate(preprocessing.features):
        if feature.name not in FEATURE_CATALOG:
            raise ConfigurationError(f"the model uses {feature.name!r}, which is not a feature of the catalog")
        if feature.transform not in ("log", "log1p", "none"):
            raise ConfigurationError(f"the model's transform {feature.transform!r} of {feature.name} is unknown")
        for name in ("impute_value", "cap_low", "cap_high", "offset", "divisor"):
            parameters[f"{name}_{position}"] = float(getattr(feature, name))
        clipped = pgsql.SQL("least(greatest(coalesce({feature}, {impute_value}), {cap_low}), {cap_high})").format(
            feature=pgsql.SQL("f.{}").format(identifier(feature.name, "feature")),
            impute_value=pgsql.Placeholder(f"impute_value_{position}"),
            cap_low=pgsql.Placeholder(f"cap_low_{position}"), cap_high=pgsql.Placeholder(f"cap_high_{position}"))
        transformed = {
            "log": pgsql.SQL("ln(greatest({}, {}))").format(clipped, pgsql.Placeholder("smallest_normal")),
            "log1p": pgsql.SQL("ln(1 + greatest({}, 0))").format(clipped),
        }.get(feature.transform, clipped)
        scaled.append(pgsql.SQL("({transformed} - {offset}) / {divisor} AS {alias}").format(
            transformed=transformed, offset=pgsql.Placeholder(f"offset_{position}"),
            divisor=pgsql.Placeholder(f"divisor_{position}"), alias=_scaled(position)))

    dimensions = range(centroids.shape[1])
    squared_norm = pgsql.SQL(" + ").join(
        pgsql.SQL("{scaled} * {scaled}").format(scaled=_scaled(d, "s")) for d in dimensions)
    partial = [pgsql.SQL("({}) AS squared_norm").format(squared_norm)]
    for index, centroid in enumerate(centroids):
        parameters[f"centroid_norm_{index}"] = float((centroid ** 2).sum())
        for d in dimensions:
            parameters[f"centroid_{index}_{d}"] = float(centroid[d])
        dot = pgsql.SQL(" + ").join(
            pgsql.SQL("{} * {}").format(_scaled(d, "s"), pgsql.Placeholder(f"centroid_{index}_{d}"))
            for d in dimensions)
        partial.append(pgsql.SQL("{norm} - 2 * ({dot}) AS {alias}").format(
            norm=pgsql.Placeholder(f"centroid_norm_{index}"), dot=dot, alias=_partial(index)))
    clusters = range(len(centroids))
    for index in clusters:
        parameters[f"cluster_index_{index}"] = index
    return ScoringSql(
        scaled=_LIST_SEPARATOR.join(scaled),
        partial=_LIST_SEPARATOR.join(partial),
        nearest=pgsql.SQL("least({}) AS least_partial").format(
            pgsql.SQL(", ").join(_partial(index, "p") for index in clusters)),
        # Each index bound and cast to integer, the type of model_segments.cluster_index it is joined to.
        cluster_index=pgsql.SQL("CASE {} END").format(pgsql.SQL(" ").join(
            pgsql.SQL("WHEN {partial} = n.least_partial THEN CAST({index} AS integer)").format(
                partial=_partial(index, "n"), index=pgsql.Placeholder(f"cluster_index_{index}"))
            for index in clusters)),
        parameters=parameters)


def _scaled(position: int, table: str | None = None) -> pgsql.Composable:
    """Column scaled_<position> (of the level aliased `table`): the customer's coordinate in the model's space."""
    return _column(f"scaled_{position}", table)


def _partial(index: int, table: str | None = None) -> pgsql.Composable:
    """Column partial_<index> (of the level aliased `table`): |c|^2 - 2 x.c for centroid <index>."""
    return _column(f"partial_{index}", table)


def _column(name: str, table: str | None) -> pgsql.Composable:
    column = pgsql.Identifier(name)
    return pgsql.SQL("{}.{}").format(pgsql.SQL(table), column) if table else column
