"""The K-Means model as plain data: preprocessing parameters, centroids, metrics.

Preprocessing, per feature and in this order: impute (missing values) -> cap (bounds fitted on the
training data) -> transform (log / log1p) -> scale (affine: (x - offset) / divisor, from MinMax or
Standard fitted on the training data). Everything fitted is stored, so reassigning with the stored
model gives what the fitted scikit-learn model would predict.
"""

from __future__ import annotations

import hashlib
import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from tasks.errors import ConfigurationError
from tasks.features.recipes import Recipe

if TYPE_CHECKING:
    from sklearn.cluster import KMeans

SILHOUETTE_WORKING_MEMORY_MB = 128
MODEL_THREADS = min(os.cpu_count() or 1, 4)  # k candidates fitted at once


@dataclass(frozen=True)
class FeaturePreprocessing:
    name: str
    impute_value: float
    cap_low: float
    cap_high: float
    transform: str
    offset: float
    divisor: float


@dataclass(frozen=True)
class Preprocessing:
    features: list[FeaturePreprocessing]

    @property
    def names(self) -> list[str]:
        return [feature.name for feature in self.features]

    def to_json(self) -> list[dict]:
        """JSON-safe: an unbounded cap (capping method none) is stored as null, since PostgreSQL's
        jsonb has no Infinity (and SQL scoring reads null as "no bound")."""
        return [{**asdict(feature), "cap_low": _finite_or_none(feature.cap_low),
                 "cap_high": _finite_or_none(feature.cap_high)} for feature in self.features]

    @classmethod
    def from_json(cls, document: list[dict]) -> Preprocessing:
        return cls([FeaturePreprocessing(**{**feature,
                                            "cap_low": _none_as(feature.get("cap_low"), -math.inf),
                                            "cap_high": _none_as(feature.get("cap_high"), math.inf)})
                    for feature in document])

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """Raw feature columns -> the scaled matrix the centroids live in."""
        columns = [_prepare(frame[f.name].to_numpy(dtype="float64"), f) for f in self.features]
        return np.column_stack(columns) if columns else np.empty((len(frame), 0))

    def inverse(self, scaled: np.ndarray) -> np.ndarray:
        """Scaled points (e.g. centroids) back to raw feature units (capping is not undone)."""
        raw = np.empty_like(scaled, dtype="float64")
        for column, feature in enumerate(self.features):
            values = scaled[:, column] * feature.divisor + feature.offset
            if feature.transform == "log":
                values = np.exp(values)
            elif feature.transform == "log1p":
                values = np.expm1(values)
            raw[:, column] = values
        return raw


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _none_as(value: float | None, default: float) -> float:
    return default if value is None else float(value)


def _capped(values: np.ndarray, feature: FeaturePreprocessing) -> np.ndarray:
    values = np.where(np.isnan(values), feature.impute_value, values)
    return np.clip(values, feature.cap_low, feature.cap_high)


def _transformed(values: np.ndarray, transform: str) -> np.ndarray:
    if transform == "log":
        return np.log(np.maximum(values, np.finfo("float64").tiny))
    if transform == "log1p":
        return np.log1p(np.maximum(values, 0.0))
    return values


def _prepare(values: np.ndarray, feature: FeaturePreprocessing) -> np.ndarray:
    return (_transformed(_capped(values, feature), feature.transform) - feature.offset) / feature.divisor


def fit_preprocessing(frame: pd.DataFrame, recipe: Recipe) -> Preprocessing:
    """Fit imputation, capping bounds and scaler on `frame` (the training customers)."""
    fitted = []
    for spec in recipe.features:
        values = frame[spec.name].to_numpy(dtype="float64")
        known = values[~np.isnan(values)]
        if known.size == 0:
            raise ConfigurationError(f"feature {spec.name} has no known values to fit on")
        policy = recipe.missing_values.get(spec.name, "median")
        impute = {"median": np.median(known), "mean": np.mean(known), "zero": 0.0}.get(policy, np.median(known))
        low, high = _capping_bounds(known, recipe.capping_for(spec))
        if spec.transform == "log" and high <= 0:
            raise ConfigurationError(f"feature {spec.name} cannot take a log: its values are not positive")
        capped = np.clip(np.where(np.isnan(values), impute, values), low, high)
        prepared = _transformed(capped, spec.transform)
        if recipe.scaler == "minmax":
            offset, spread = float(prepared.min()), float(prepared.max() - prepared.min())
        else:
            offset, spread = float(prepared.mean()), float(prepared.std())
        fitted.append(FeaturePreprocessing(spec.name, float(impute), float(low), float(high), spec.transform,
                                           offset, spread if spread > 0 else 1.0))
    return Preprocessing(fitted)


def _capping_bounds(known: np.ndarray, capping) -> tuple[float, float]:
    if capping.method == "percentile":
        low, high = np.quantile(known, [capping.lower_quantile, capping.upper_quantile])
    elif capping.method == "iqr":
        q_low, q_high = np.quantile(known, [capping.lower_quantile, capping.upper_quantile])
        spread = q_high - q_low
        low, high = max(q_low - capping.factor * spread, known.min()), min(q_high + capping.factor * spread,
                                                                              known.max())
    else:
        low, high = -math.inf, math.inf
    return float(low), float(high)


def assign_nearest(points: np.ndarray, centroids: np.ndarray, chunk_rows: int = 500_000) -> tuple[np.ndarray, np.ndarray]:
    """Index of and distance to the nearest centroid, in chunks to bound memory."""
    labels = np.empty(len(points), dtype="int32")
    distances = np.empty(len(points), dtype="float64")
    squared_norms = (centroids ** 2).sum(axis=1)
    for start in range(0, len(points), chunk_rows):
        block = points[start:start + chunk_rows]
        # Same expansion scikit-learn uses, so ties and rounding resolve the same way.
        squared = (block ** 2).sum(axis=1)[:, None] - 2 * block @ centroids.T + squared_norms[None, :]
        labels[start:start + chunk_rows] = squared.argmin(axis=1)
        nearest = np.take_along_axis(squared, labels[start:start + chunk_rows, None].astype("int64"), axis=1)[:, 0]
        distances[start:start + chunk_rows] = np.sqrt(np.maximum(nearest, 0.0))
    return labels, distances


def fit_kmeans(points: np.ndarray, k: int, recipe: Recipe) -> KMeans:
    from sklearn.cluster import KMeans  # noqa: PLC0415 (scikit-learn loads only when a model is fitted)

    # One OpenMP thread: on this 2-core class of machine libgomp's spinning threads made fits far
    # slower whenever another process (PostgreSQL, Prefect) was busy.
    with threadpool_limits(limits=1, user_api="openmp"):
        return KMeans(n_clusters=k, random_state=recipe.random_state, n_init=recipe.n_init).fit(points)


@dataclass
class Selection:
    """What model selection found: metrics per k, the chosen k and why."""

    k: int
    reasons: list[str]
    per_k: list[dict] = field(default_factory=list)
    train_rows: int = 0
    test_rows: int = 0

    def chosen(self) -> dict:
        return next(row for row in self.per_k if row["k"] == self.k)

    def to_json(self) -> dict:
        return {"chosen_k": self.k, "reasons": self.reasons, "per_k": self.per_k,
                "train_rows": self.train_rows, "test_rows": self.test_rows}


def silhouettes(points: np.ndarray, labellings: list[np.ndarray], sample: int, seed: int) -> list[float | None]:
    """The mean silhouette of each labelling of the same points, as scikit-learn's
    silhouette_score(sample_size=sample, random_state=seed) gives it (same sample, same formula).

    The pairwise distances, the costly part (sample squared), are computed once for all labellings
    instead of once per labelling: the k search scores every k on the same points. None where a
    labelling has fewer than two clusters (or no point shares a cluster) in the sample.
    """
    import sklearn  # noqa: PLC0415 (scikit-learn loads only when a model is fitted)
    from sklearn.metrics import pairwise_distances_chunked  # noqa: PLC0415
    from sklearn.utils import check_random_state  # noqa: PLC0415

    if len(points) < 3:
        return [None] * len(labellings)
    if sample < len(points):
        chosen = check_random_state(seed).permutation(len(points))[:sample]
        points, labellings = points[chosen], [labels[chosen] for labels in labellings]
    encoded: list[tuple[np.ndarray, np.ndarray, slice] | None] = []
    memberships, column = [], 0
    for labels in labellings:
        _, codes, sizes = np.unique(labels, return_inverse=True, return_counts=True)
        if not 2 <= len(sizes) < len(labels):
            encoded.append(None)
            continue
        codes = codes.ravel()
        # Membership matrices side by side: one product with the distances sums each point's distances per
        # cluster of every labelling.
        memberships.append(np.eye(len(sizes))[codes])
        encoded.append((codes, sizes, slice(column, column + len(sizes))))
        column += len(sizes)
    if not memberships:
        return [None] * len(labellings)
    membership = np.hstack(memberships)
    scores = [np.zeros(len(points)) for _ in labellings]
    start = 0
    # scikit-learn's own chunking (zero diagonal included), in chunks of `working_memory` MB: smaller
    # chunks than its 1 GB default cost no measurable time and keep the run's peak memory down.
    with sklearn.config_context(working_memory=SILHOUETTE_WORKING_MEMORY_MB):
        for distances in pairwise_distances_chunked(points):
            rows, stop = np.arange(len(distances)), start + len(distances)
            per_cluster_all = distances @ membership
            for labelling, clusters in enumerate(encoded):
                if clusters is None:
                    continue
                codes, sizes, columns = clusters
                own, per_cluster = codes[start:stop], per_cluster_all[:, columns]
                intra = per_cluster[rows, own]
                per_cluster[rows, own] = np.inf
                inter = (per_cluster / sizes).min(axis=1)
                with np.errstate(divide="ignore", invalid="ignore"):
                    intra = intra / (sizes[own] - 1)
                    # A point alone in its cluster scores 0 (0/0 here, as in scikit-learn).
                    scores[labelling][start:stop] = np.nan_to_num((inter - intra) / np.maximum(intra, inter))
            start = stop
    return [None if clusters is None else float(score.mean()) for score, clusters in zip(scores, encoded, strict=True)]


def evaluate_k(train: np.ndarray, test: np.ndarray, k: int, recipe: Recipe) -> tuple[dict, np.ndarray, np.ndarray]:
    """Fit on train and score it; stability = ARI(train model on test, model fitted on test). Returns the
    metrics and the train and test labels (select_k adds the silhouettes of all k at once)."""
    from sklearn.metrics import adjusted_rand_score, calinski_harabasz_score, davies_bouldin_score  # noqa: PLC0415 (scikit-learn loads only when a model is fitted)

    model = fit_kmeans(train, k, recipe)
    train_labels = model.labels_
    with threadpool_limits(limits=1, user_api="openmp"):
        test_labels = model.predict(test)
    row = {"k": k, "inertia": float(model.inertia_), "silhouette_train": None, "silhouette_test": None,
           "davies_bouldin": None, "calinski_harabasz": None, "stability_ari": None}
    if len(set(train_labels.tolist())) > 1:
        row["davies_bouldin"] = float(davies_bouldin_score(train, train_labels))
        row["calinski_harabasz"] = float(calinski_harabasz_score(train, train_labels))
    if len(test) >= k:
        refit = fit_kmeans(test, k, recipe)
        row["stability_ari"] = float(adjusted_rand_score(test_labels, refit.labels_))
    return row, train_labels, test_labels


def split_for_selection(points: np.ndarray, recipe: Recipe) -> tuple[np.ndarray, np.ndarray]:
    """The train/test split (recipe test_size) that model selection scores k on.

    At most `selection_sample` customers take part: the k search fits 2 x n_init models per k, and
    its metrics settle long before millions of rows (the published model is then fitted on up to
    `training_sample` customers).
    """
    from sklearn.model_selection import train_test_split  # noqa: PLC0415 (scikit-learn loads only when a model is fitted)

    rng = np.random.default_rng(recipe.random_state)
    if len(points) > recipe.selection_sample:
        # Draw the rows first instead of shuffling (copying) all of them.
        points = points[np.sort(rng.choice(len(points), recipe.selection_sample, replace=False))]
    return tuple(train_test_split(points, test_size=recipe.test_size, random_state=recipe.random_state))


def select_k(points: np.ndarray, recipe: Recipe) -> Selection:
    """Choose k: the elbow of inertia (kneed), checked against held-out silhouette.

    A fixed k in the recipe skips the choice but still records its metrics.
    """
    from kneed import KneeLocator  # noqa: PLC0415 (it loads matplotlib: only when k is chosen)

    train, test = split_for_selection(points, recipe)
    candidates = [k for k in recipe.k_candidates() if k < len(train)]
    if not candidates:
        raise ConfigurationError(f"too few customers ({len(points)}) for k in {recipe.k_candidates()}")
    # The candidates at once, one per core (a fit releases the GIL; each keeps one OpenMP thread, and the
    # limit is set once around all of them): the k search is most of a retrain's modelling time, while
    # the database, with nothing to do, leaves the other cores idle. Each fit has its own seed, so the
    # results do not depend on the order.
    with threadpool_limits(limits=1), ThreadPoolExecutor(max_workers=MODEL_THREADS) as pool:
        evaluated = list(pool.map(lambda k: evaluate_k(train, test, k, recipe), candidates))
    per_k = [row for row, _, _ in evaluated]
    for split, points_of_split, labels_at in (("train", train, 1), ("test", test, 2)):
        scores = silhouettes(points_of_split, [entry[labels_at] for entry in evaluated], recipe.silhouette_sample,
                             recipe.random_state)
        for row, score in zip(per_k, scores, strict=True):
            row[f"silhouette_{split}"] = score
    if isinstance(recipe.k, int):
        return Selection(recipe.k, [f"k={recipe.k} fixed by recipe {recipe.name}"], per_k, len(train), len(test))

    by_silhouette = max(per_k, key=lambda row: row["silhouette_test"] or -1.0)
    elbow = None
    if len(per_k) >= 3:
        locator = KneeLocator([row["k"] for row in per_k], [row["inertia"] for row in per_k],
                              curve="convex", direction="decreasing")
        elbow = int(locator.knee) if locator.knee is not None else None
    reasons = []
    if elbow is None:
        chosen = by_silhouette["k"]
        reasons.append(f"no elbow in inertia; k={chosen} has the best held-out silhouette "
                       f"({by_silhouette['silhouette_test']:.3f})")
    else:
        elbow_row = next(row for row in per_k if row["k"] == elbow)
        reasons.append(f"elbow of inertia at k={elbow} (kneed)")
        # Silhouette favours small k on customer data; keep the elbow unless its held-out silhouette
        # falls more than the recipe's relative tolerance below the best one.
        best = by_silhouette["silhouette_test"] or 0.0
        floor = (1 - recipe.silhouette_tolerance) * best
        elbow_silhouette = elbow_row["silhouette_test"] or -1.0
        if elbow_silhouette >= floor:
            chosen = elbow
            reasons.append(f"held-out silhouette at k={elbow} is {elbow_silhouette:.3f}, within "
                           f"{recipe.silhouette_tolerance:.0%} of the best ({best:.3f} at k={by_silhouette['k']})")
        else:
            chosen = by_silhouette["k"]
            reasons.append(f"but its held-out silhouette ({elbow_silhouette:.3f}) is more than "
                           f"{recipe.silhouette_tolerance:.0%} below k={chosen}'s ({best:.3f}); chose k={chosen}")
    chosen_row = next(row for row in per_k if row["k"] == chosen)
    if chosen_row["stability_ari"] is not None:
        reasons.append(f"stability (ARI train model vs refit on test) {chosen_row['stability_ari']:.3f}")
    return Selection(chosen, reasons, per_k, len(train), len(test))


def training_rows(points: np.ndarray, recipe: Recipe) -> np.ndarray:
    """The customers the published model is fitted on: all (sampled to training_sample) or the train split."""
    from sklearn.model_selection import train_test_split  # noqa: PLC0415 (scikit-learn loads only when a model is fitted)

    if recipe.fit_on == "train":
        points, _ = train_test_split(points, test_size=recipe.test_size, random_state=recipe.random_state)
    if len(points) > recipe.training_sample:
        rng = np.random.default_rng(recipe.random_state)
        points = points[np.sort(rng.choice(len(points), recipe.training_sample, replace=False))]
    return points


def fingerprint(frame: pd.DataFrame, columns: list[str]) -> str:
    """SHA-256 over the training rows, independent of physical row order."""
    ordered = frame[["customer_id", *columns]]
    if not frame["customer_id"].is_monotonic_increasing:  # features are read in id order: skip the sort
        ordered = ordered.sort_values("customer_id")
    digest = hashlib.sha256(pd.util.hash_pandas_object(ordered, index=False).to_numpy().tobytes())
    return digest.hexdigest()


# -- drift --------------------------------------------------------------------------------------
def feature_baseline(frame: pd.DataFrame, features: list[str], bins: int = 10) -> dict[str, dict]:
    """Decile edges and shares per feature at training time, for the population stability index."""
    baseline = {}
    for name in features:
        values = frame[name].dropna().to_numpy(dtype="float64")
        edges = np.unique(np.quantile(values, np.linspace(0, 1, bins + 1)[1:-1]))
        shares = _bin_shares(values, edges)
        baseline[name] = {"edges": edges.tolist(), "shares": shares.tolist()}
    return baseline


def _bin_shares(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    counts = np.bincount(np.searchsorted(edges, values, side="right"), minlength=len(edges) + 1)
    return counts / max(len(values), 1)


def population_stability_index(baseline: dict, values: np.ndarray) -> float:
    """PSI = sum((actual - expected) * ln(actual / expected)) over the baseline's bins."""
    values = values[~np.isnan(values)]
    expected = np.asarray(baseline["shares"], dtype="float64")
    actual = _bin_shares(values, np.asarray(baseline["edges"], dtype="float64"))
    floor = 1e-4  # empty bins would make the log infinite
    expected, actual = np.maximum(expected, floor), np.maximum(actual, floor)
    return float(((actual - expected) * np.log(actual / expected)).sum())
