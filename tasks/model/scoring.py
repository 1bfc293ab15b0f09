"""A stored model's nearest-centroid assignment as SQL expressions, to place every customer in the database.

Per feature, as tasks/model/kmeans.py does it: impute -> cap -> transform (log / log1p) -> (x - offset) / divisor;
then, per centroid c, |c|^2 - 2 x.c (the expansion tasks/model.assign_nearest uses; |x|^2 is the same for
every centroid, so it is added once, to the least). The model's numbers are bound parameters; the only
names in the SQL are the model's features, checked against the feature catalog and quoted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tasks.errors import ConfigurationError
from tasks.model.kmeans import Preprocessing
from tasks.features.recipes import FEATURE_CATALOG
from tasks.db.sql import quote_identifier

SMALLEST_NORMAL = float(np.finfo("float64").tiny)  # log's floor, as in tasks/model/kmeans.py


@dataclass(frozen=True)
class ScoringSql:
    """The select lists of the three levels of sql/publish/stage_assignments.sql, and their parameters."""

    scaled: str  # scaled_0, scaled_1, ...: the customer in the model's space
    partial: str  # squared_norm, partial_0, ...: |x|^2, and |c|^2 - 2 x.c per centroid
    nearest: str  # least_partial: the least of the partials
    cluster_index: str  # the first centroid whose partial is the least
    parameters: dict[str, float]


def scoring_sql(preprocessing: Preprocessing, centroids: np.ndarray) -> ScoringSql:
    centroids = np.asarray(centroids, dtype="float64")
    if centroids.ndim != 2 or centroids.shape[1] != len(preprocessing.features) or not len(centroids):
        raise ConfigurationError(f"the model has centroids of shape {centroids.shape} for "
                                 f"{len(preprocessing.features)} features")
    parameters: dict[str, float] = {"smallest_normal": SMALLEST_NORMAL}
    scaled = []
    for position, feature in enumerate(preprocessing.features):
        if feature.name not in FEATURE_CATALOG:
            raise ConfigurationError(f"the model uses {feature.name!r}, which is not a feature of the catalog")
        for name in ("impute_value", "cap_low", "cap_high", "offset", "divisor"):
            parameters[f"{name}_{position}"] = float(getattr(feature, name))
        clipped = (f"least(greatest(coalesce(f.{quote_identifier(feature.name, 'feature')}, "
                   f"%(impute_value_{position})s), %(cap_low_{position})s), %(cap_high_{position})s)")
        transformed = {"log": f"ln(greatest({clipped}, %(smallest_normal)s))",
                       "log1p": f"ln(1 + greatest({clipped}, 0))"}.get(feature.transform, clipped)
        if feature.transform not in ("log", "log1p", "none"):
            raise ConfigurationError(f"the model's transform {feature.transform!r} of {feature.name} is unknown")
        scaled.append(f"({transformed} - %(offset_{position})s) / %(divisor_{position})s AS scaled_{position}")

    dimensions = range(centroids.shape[1])
    partial = ["(" + " + ".join(f"s.scaled_{d} * s.scaled_{d}" for d in dimensions) + ") AS squared_norm"]
    for index, centroid in enumerate(centroids):
        parameters[f"centroid_norm_{index}"] = float((centroid ** 2).sum())
        for d in dimensions:
            parameters[f"centroid_{index}_{d}"] = float(centroid[d])
        dot = " + ".join(f"s.scaled_{d} * %(centroid_{index}_{d})s" for d in dimensions)
        partial.append(f"%(centroid_norm_{index})s - 2 * ({dot}) AS partial_{index}")
    clusters = range(len(centroids))
    return ScoringSql(
        scaled=",\n       ".join(scaled),
        partial=",\n       ".join(partial),
        nearest="least(" + ", ".join(f"p.partial_{index}" for index in clusters) + ") AS least_partial",
        cluster_index="CASE " + " ".join(f"WHEN n.partial_{index} = n.least_partial THEN {index}"
                                         for index in clusters) + " END",
        parameters=parameters)
