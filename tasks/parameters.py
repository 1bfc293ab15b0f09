"""The run's parameters: one pydantic model, so the CLI, Prefect's UI form and the API validate alike."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, model_validator

# JSON Schema's "format: date" is only a hint to validators (Prefect's API does not check it): the
# pattern makes the API refuse "yesterday" before a run exists; the UI still shows a date picker.
IsoDate = Annotated[date, WithJsonSchema({"type": "string", "format": "date", "pattern": r"^\d{4}-\d{2}-\d{2}$"})]


class RunParameters(BaseModel):
    """Parameters of a nightly-segmentation run. Every field has a default: an empty form is a valid run."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["auto", "retrain", "reassign"] = Field(
        "auto", description="retrain fits a new model; reassign uses the active one; auto decides (age, drift, "
                            "silhouette).")
    recipe: str = Field("default", min_length=1, max_length=200,
                        description="Recipe name in recipes/ (default, reference-rfmlc) or a path to a recipe file.")
    k: int | None = Field(None, ge=2, le=30, description="Fix the number of segments (overrides the recipe).")
    k_min: int | None = Field(None, ge=2, le=30, description="Smallest k to consider (overrides the recipe).")
    k_max: int | None = Field(None, ge=2, le=30, description="Largest k to consider (overrides the recipe).")
    as_of: IsoDate | None = Field(None, description="Compute features as of this date; default: the source "
                                                 "snapshot date.")
    max_quarantine_share: float = Field(0.05, ge=0, le=1, description="Fail the run if more than this share of "
                                                                      "customers is quarantined.")
    max_row_count_drop: float = Field(0.5, ge=0, le=1, description="Contract breach if the source shrank by more "
                                                                   "than this share since the last good run.")
    duplicate_policy: Literal["keep", "keep_first", "quarantine"] | None = Field(
        None, description="Customers repeating another's record: keep, keep_first or quarantine (overrides the "
                          "recipe).")
    max_model_age_days: int = Field(30, ge=0, le=3650, description="auto retrains a model older than this.")
    psi_threshold: float = Field(0.2, gt=0, le=10, description="auto retrains when a feature's population "
                                                               "stability index exceeds this.")
    silhouette_floor: float = Field(0.1, ge=-1, le=1, description="auto retrains when the model's held-out "
                                                                   "silhouette is below this.")
    full_refresh: bool = Field(False, description="Orders recipes: rebuild the daily rollup of orders from every "
                                                  "order instead of the orders ingested since the last run.")
    dry_run: bool = Field(False, description="Validate, train and audit, but publish nothing.")
    lock_wait_seconds: int = Field(0, ge=0, le=86_400, description="How long to wait for another run on the same "
                                                                   "database before failing.")
    publish_wait_seconds: int = Field(300, ge=0, le=86_400, description="How long the publish may wait for "
                                      "readers' transactions on the published segments (retrying without "
                                      "blocking other readers) before the run fails, keeping the last segments.")

    @model_validator(mode="after")
    def _k_range(self) -> RunParameters:
        if self.k_min is not None and self.k_max is not None and self.k_min > self.k_max:
            raise ValueError(f"k_min ({self.k_min}) must not exceed k_max ({self.k_max})")
        if self.k is not None and (self.k_min is not None or self.k_max is not None):
            raise ValueError("give either k or a k_min/k_max range, not both")
        return self
