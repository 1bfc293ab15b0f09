"""Train or reassign: decide the mode, then fit a new model or place customers with the active one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from tasks.model.kmeans import (
    Preprocessing,
    assign_nearest,
    feature_baseline,
    fingerprint,
    fit_kmeans,
    fit_preprocessing,
    population_stability_index,
    select_k,
    training_rows,
)
from tasks.features.recipes import Recipe
from tasks.model.registry import StoredModel
from tasks.model.segments import cluster_summary, label_segments, match_clusters


@dataclass(frozen=True)
class RetrainPolicy:
    max_model_age_days: int = 30
    psi_threshold: float = 0.2
    silhouette_floor: float = 0.1


@dataclass(frozen=True)
class ModeDecision:
    mode: str  # retrain | reassign
    reasons: list[str]


def decide_mode(requested: str, active: StoredModel | None, features: pd.DataFrame, recipe: Recipe, as_of: date,
                policy: RetrainPolicy) -> ModeDecision:
    """`auto` retrains when there is no usable active model, it is too old, the features drifted, or its
    held-out silhouette is below the floor; otherwise it reassigns."""
    if requested == "retrain":
        return ModeDecision("retrain", ["retrain requested"])
    if active is None:
        if requested == "reassign":
            return ModeDecision("retrain", ["reassign requested but there is no active model: training one"])
        return ModeDecision("retrain", ["no active model"])
    if requested == "reassign":
        return ModeDecision("reassign", ["reassign requested"])

    reasons = []
    if active.recipe_name != recipe.name or active.features != recipe.feature_names:
        reasons.append(f"recipe changed ({active.recipe_name} -> {recipe.name})")
    elif active.recipe.get("tiers_by", "spend") != recipe.tiers_by:  # tiers are set when a model is trained
        reasons.append(f"tiers by changed ({active.recipe.get('tiers_by', 'spend')} -> {recipe.tiers_by})")
    age_days = (as_of - active.as_of).days
    if age_days > policy.max_model_age_days:
        reasons.append(f"model {active.model_version} is {age_days} days old (maximum {policy.max_model_age_days})")
    for name in active.features:
        if name not in features.columns:  # a feature the recipe no longer reads: 'recipe changed' covers it
            continue
        psi = population_stability_index(active.feature_baseline[name], features[name].to_numpy(dtype="float64"))
        if psi > policy.psi_threshold:
            reasons.append(f"{name} drifted: PSI {psi:.3f} > {policy.psi_threshold}")
    silhouette = active.metrics.get("selection", {}).get("chosen", {}).get("silhouette_test")
    if silhouette is not None and silhouette < policy.silhouette_floor:
        reasons.append(f"held-out silhouette {silhouette:.3f} below the floor {policy.silhouette_floor}")
    if reasons:
        return ModeDecision("retrain", reasons)
    return ModeDecision("reassign", [f"model {active.model_version} is current: age {age_days} days, no drift "
                                     f"above PSI {policy.psi_threshold}"])


@dataclass
class Assignment:
    """A model and the places it gives the customers of the frame it saw (the run's sample of features:
    every customer is placed again in the database when the run is staged, tasks/publish/write_audit_publish.py)."""

    model: StoredModel
    labels: np.ndarray  # cluster index per customer, aligned with the feature frame
    distances: np.ndarray
    trained: bool


def train_model(features: pd.DataFrame, recipe: Recipe, *, as_of: date, previous: StoredModel | None,
                next_segment_id: int) -> Assignment:
    """Select k, fit the published model, label its clusters (carrying ids over from `previous`)."""
    preprocessing = fit_preprocessing(features, recipe)
    points = preprocessing.transform(features)
    selection = select_k(points, recipe)
    fitted = fit_kmeans(training_rows(points, recipe), selection.k, recipe)
    centroids = fitted.cluster_centers_
    labels, distances = assign_nearest(points, centroids)
    summary = cluster_summary(features, labels)

    matches: dict[int, int] = {}
    previous_labels = {}
    if previous is not None:
        previous_labels = {label.cluster_index: label for label in previous.segments}
        shared = [name for name in preprocessing.names if name in previous.features]
        if shared:
            # Compare centroids in this model's scaled space, on the features both models use.
            previous_raw = pd.DataFrame(previous.preprocessing.inverse(previous.centroids), columns=previous.features)
            current_raw = pd.DataFrame(preprocessing.inverse(centroids), columns=preprocessing.names)
            subset = Preprocessing([f for f in preprocessing.features if f.name in shared])
            matches = match_clusters(subset.transform(previous_raw), subset.transform(current_raw))
    segments = label_segments(summary, features, matches=matches, previous=previous_labels,
                              next_segment_id=next_segment_id)
    model = StoredModel(
        model_version=None, trained_at=None, as_of=as_of, recipe_name=recipe.name,
        recipe=recipe.model_dump(mode="json"), preprocessing=preprocessing, centroids=centroids,
        metrics={"selection": {**selection.to_json(), "chosen": selection.chosen()},
                 "inertia_full": float(fitted.inertia_)},
        training_rows=int(min(len(points), recipe.training_sample)),
        training_fingerprint=fingerprint(features, preprocessing.names),
        feature_baseline=feature_baseline(features, preprocessing.names), segments=segments)
    return Assignment(model, labels, distances, trained=True)


def reassign(features: pd.DataFrame, model: StoredModel) -> Assignment:
    """Nearest centroid of the stored model, with its stored preprocessing."""
    labels, distances = assign_nearest(model.preprocessing.transform(features), model.centroids)
    return Assignment(model, labels, distances, trained=False)
