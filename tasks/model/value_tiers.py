"""Tiers by expected value (a recipe's `tiers_by: expected_value`, orders source only).

Training tiers a model's segments by the mean past spend of its sample's customers in each cluster
(tasks/model/segments.py). The expected value exists only after the value stage, which runs after the model
stage; so, for a model this run trained, the same rule (assign_tiers) is applied afterwards to the mean
expected_value_365d of the same sample's customers per cluster, and the candidate's stored segments are
updated before the publish reads them. A reassigning run keeps the active model's tiers: they were set when
it was trained, as its segment names were (a change of tiers_by retrains, tasks/model/train.py decide_mode).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sqlalchemy.engine import Engine

from tasks.db.sql import run_sql_file
from tasks.errors import SegmentsError
from tasks.model.registry import StoredModel
from tasks.model.segments import RECOMMENDED_ACTIONS, SegmentLabel, assign_tiers


def tier_by_expected_value(engine: Engine, model: StoredModel, customer_ids: np.ndarray,
                           cluster_indexes: np.ndarray) -> dict[int, str]:
    """Re-tier `model` (a stored candidate) by its sample clusters' mean expected value; returns the tiers."""
    if model.model_version is None:
        raise SegmentsError("tiers by expected value: the model has not been stored yet")
    with engine.begin() as connection:
        rows = run_sql_file(connection, "model/sample_cluster_expected_value.sql", {
            "customer_ids": [int(value) for value in customer_ids],
            "cluster_indexes": [int(value) for value in cluster_indexes]}).all()
        means = pd.Series({label.cluster_index: np.nan for label in model.segments}, dtype="float64")
        for cluster_index, value in rows:
            means[int(cluster_index)] = value
        # A cluster without any predicted customer (none has orders) ranks last, as nothing is expected of it.
        tiers = assign_tiers(means.fillna(-np.inf))
        for label in model.segments:
            run_sql_file(connection, "model/update_model_segment_tier.sql", {
                "model_version": model.model_version, "cluster_index": label.cluster_index,
                "tier": tiers[label.cluster_index], "recommended_action": RECOMMENDED_ACTIONS[tiers[label.cluster_index]]})
    model.segments = [SegmentLabel(label.cluster_index, label.segment_id, label.segment_name,
                                   tiers[label.cluster_index], RECOMMENDED_ACTIONS[tiers[label.cluster_index]])
                      for label in model.segments]
    return tiers
