"""Staging a run's assignments for write-audit-publish, sized for millions of customers.

The model stage knows, per customer, only a cluster index and a distance; the published features are
already in segmentation_work.customer_features and the segment names in segmentation.model_segments.
So only three numeric columns cross the wire (binary COPY into a temporary table) and the staged
rows are assembled by one set-based INSERT ... SELECT in the database: no per-row strings in Python.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
from sqlalchemy.engine import Engine

from tasks.publish import STAGING_TABLE
from tasks.sql import copy_in_arrays, read_sql
from tasks.train import Assignment


def stage_assignments(engine: Engine, customer_ids: np.ndarray, assignment: Assignment, run_id: int,
                      assigned_at: datetime) -> int:
    """Replace the staging table's rows with this run's assignments; returns the rows staged."""
    with engine.begin() as connection:
        connection.exec_driver_sql(f"TRUNCATE {STAGING_TABLE}")
        connection.exec_driver_sql(
            "CREATE TEMPORARY TABLE run_assignments (customer_id bigint, cluster_index integer, "
            "distance_to_centroid double precision) ON COMMIT DROP")
        copy_in_arrays(connection, "run_assignments", {
            "customer_id": np.asarray(customer_ids, dtype="int64"),
            "cluster_index": np.asarray(assignment.labels, dtype="int32"),
            "distance_to_centroid": np.asarray(assignment.distances, dtype="float64")})
        connection.exec_driver_sql("ANALYZE run_assignments")
        result = connection.exec_driver_sql(read_sql("publish/stage_assignments.sql"), {
            "run_id": run_id, "model_version": assignment.model.model_version, "assigned_at": assigned_at})
        return result.rowcount
