"""The model registry in segmentation.models / segmentation.model_segments: models stored as data."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
import sqlalchemy as sa

from tasks.db.sql import run_sql_file, sql_file
from tasks.model.kmeans import Preprocessing
from tasks.model.segments import SegmentLabel


@dataclass
class StoredModel:
    """A model as the registry holds it; enough to reassign customers without scikit-learn."""

    model_version: int | None
    trained_at: datetime | None
    as_of: date
    recipe_name: str
    recipe: dict
    preprocessing: Preprocessing
    centroids: np.ndarray
    metrics: dict
    training_rows: int
    training_fingerprint: str
    feature_baseline: dict
    segments: list[SegmentLabel]

    @property
    def features(self) -> list[str]:
        return self.preprocessing.names

    def label_for(self, cluster_index: int) -> SegmentLabel:
        return next(label for label in self.segments if label.cluster_index == cluster_index)


def read_active_model(connection: sa.Connection) -> StoredModel | None:
    row = run_sql_file(connection, "model/active_model.sql").mappings().first()
    return _from_row(connection, row) if row else None


def read_model(connection: sa.Connection, model_version: int) -> StoredModel | None:
    row = run_sql_file(connection, "model/model_by_version.sql", {"model_version": model_version}).mappings().first()
    return _from_row(connection, row) if row else None


def _from_row(connection: sa.Connection, row) -> StoredModel:
    segments = run_sql_file(connection, "model/model_segment_labels.sql",
                            {"model_version": row["model_version"]}).all()
    return StoredModel(
        model_version=row["model_version"], trained_at=row["trained_at"], as_of=row["as_of"],
        recipe_name=row["recipe_name"], recipe=row["recipe"],
        preprocessing=Preprocessing.from_json(row["preprocessing"]),
        centroids=np.asarray(row["centroids"], dtype="float64"), metrics=row["metrics"],
        training_rows=row["training_rows"], training_fingerprint=row["training_fingerprint"],
        feature_baseline=row["feature_baseline"], segments=[SegmentLabel(*segment) for segment in segments])


def next_segment_id(connection: sa.Connection) -> int:
    return int(run_sql_file(connection, "model/next_segment_id.sql").scalar_one())


def insert_candidate(connection: sa.Connection, model: StoredModel, run_id: int) -> int:
    """Store a freshly trained model as a candidate; publish activates it."""
    version = run_sql_file(connection, "model/insert_candidate_model.sql", {
        "run_id": run_id, "as_of": model.as_of, "recipe_name": model.recipe_name,
        "recipe": json.dumps(model.recipe, default=str), "features": model.features,
        "preprocessing": json.dumps(model.preprocessing.to_json()),
        "centroids": json.dumps(model.centroids.tolist()), "metrics": json.dumps(model.metrics),
        "training_rows": model.training_rows, "fingerprint": model.training_fingerprint,
        "baseline": json.dumps(model.feature_baseline)}).scalar_one()
    connection.exec_driver_sql(sql_file("model/insert_model_segment.sql"), [
        {"model_version": version, "cluster_index": label.cluster_index, "segment_id": label.segment_id,
         "segment_name": label.segment_name, "tier": label.tier, "recommended_action": label.recommended_action}
        for label in model.segments])
    model.model_version = version
    return version


def activate(connection: sa.Connection, model_version: int) -> None:
    """Make `model_version` the active model (within the caller's publish transaction)."""
    run_sql_file(connection, "model/retire_active_model.sql", {"model_version": model_version})
    run_sql_file(connection, "model/activate_model.sql", {"model_version": model_version})
