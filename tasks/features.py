"""Features: the RFM-style features of every modelled customer, computed in PostgreSQL."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import sqlalchemy as sa

from tasks.recipes import FEATURE_CATALOG, Recipe
from tasks.sql import copy_out_frame, read_sql

FEATURE_COLUMNS = list(FEATURE_CATALOG)


def feature_parameters(recipe: Recipe, as_of: date, snapshot_date: date, run_id: int) -> dict[str, object]:
    return {
        "as_of": as_of,
        "snapshot_date": snapshot_date,
        "tenure_reference_date": recipe.tenure_reference_date or as_of,
        "age_reference_year": recipe.age_reference_year or as_of.year,
        "run_id": run_id,
    }


def compute_features(connection: sa.Connection, recipe: Recipe, *, as_of: date, snapshot_date: date,
                     run_id: int) -> int:
    """Fill segmentation_work.customer_features for the extract's customers validation did not quarantine."""
    connection.exec_driver_sql("TRUNCATE segmentation_work.customer_features")
    result = connection.exec_driver_sql(
        "INSERT INTO segmentation_work.customer_features " + read_sql("features/customer_features.sql"),
        feature_parameters(recipe, as_of, snapshot_date, run_id))
    return result.rowcount


def read_features(connection: sa.Connection) -> pd.DataFrame:
    """The run's features, ordered by customer id (the same data always gives the same result)."""
    frame = copy_out_frame(connection, "SELECT * FROM segmentation_work.customer_features ORDER BY customer_id")
    frame["customer_id"] = frame["customer_id"].astype("int64")
    frame["response"] = frame["response"].astype("int16")
    for column in FEATURE_COLUMNS:
        frame[column] = frame[column].astype("float64")
    return frame


def check_features(frame: pd.DataFrame, features: list[str]) -> dict[str, int]:
    """Count non-finite values per model feature (missing income is imputed later, so NaN is allowed there)."""
    return {column: int((~np.isfinite(frame[column].to_numpy())).sum()) for column in features}
