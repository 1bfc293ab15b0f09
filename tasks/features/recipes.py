"""Recipes: which features enter the model and how they are prepared, as configuration.

A recipe is a YAML file (see recipes/). It is validated once, here, so every later stage can trust it.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from tasks.errors import ConfigurationError
from tasks.settings import PROJECT_ROOT

RECIPES_DIR = PROJECT_ROOT / "recipes"

# Every feature the feature query computes (sql/features/customer_features.sql), by name.
FEATURE_CATALOG: dict[str, str] = {
    "recency_days": "days since the last purchase, as of the run",
    "frequency": "purchases across web, catalogue, store and deals",
    "monetary": "spend across the six product categories",
    "tenure_days": "days from enrolment to the tenure reference date",
    "campaign_acceptances": "offers accepted in campaigns 1-5 plus the last response",
    "age": "age in years at the age reference year",
    "income": "yearly household income",
    "children_home": "children and teenagers at home",
    "web_visits_month": "web visits last month",
    "conversion_rate": "purchases per web visit (0 without visits)",
    "spend_per_purchase": "monetary / frequency (0 without purchases)",
}
_PURCHASES = ("purchases_deals", "purchases_web", "purchases_catalog", "purchases_store")
_SPENDS = ("spend_wines", "spend_fruits", "spend_meat", "spend_fish", "spend_sweets", "spend_gold")
# The customer-profile source columns each feature reads (sql/features/customer_features.sql): a mapped
# profile table needs customer_id and these for the recipe's features, no others.
FEATURE_SOURCE_COLUMNS: dict[str, tuple[str, ...]] = {
    "recency_days": ("recency_days",),
    "frequency": _PURCHASES,
    "monetary": _SPENDS,
    "tenure_days": ("enrolled_on",),
    "campaign_acceptances": ("accepted_cmp1", "accepted_cmp2", "accepted_cmp3", "accepted_cmp4", "accepted_cmp5",
                             "response"),
    "age": ("birth_year",),
    "income": ("income",),
    "children_home": ("kids_home", "teens_home"),
    "web_visits_month": ("web_visits_month",),
    "conversion_rate": (*_PURCHASES, "web_visits_month"),
    "spend_per_purchase": (*_PURCHASES, *_SPENDS),
}
assert set(FEATURE_SOURCE_COLUMNS) == set(FEATURE_CATALOG)
ROW_CHECKS = ("implausible_birth_year", "unknown_category", "negative_amount", "enrolment_out_of_range")
# The features an orders source gives (from the customers' purchase days: sql/features/order_features.sql);
# the others need the columns of a customer-profile source.
ORDER_FEATURES = ("recency_days", "frequency", "monetary", "tenure_days", "spend_per_purchase")
SOURCES = ("customers", "orders")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Capping(_Strict):
    """Outlier capping fitted on the training data: quantile bounds, or Tukey fences (IQR)."""

    method: Literal["none", "percentile", "iqr"] = "none"
    lower_quantile: float = Field(0.01, ge=0, le=1)
    upper_quantile: float = Field(0.99, ge=0, le=1)
    factor: float = Field(1.5, gt=0, description="IQR multiple for the fences (iqr only)")

    @model_validator(mode="after")
    def _ordered(self) -> Capping:
        if self.method != "none" and not self.lower_quantile < self.upper_quantile:
            raise ValueError(f"lower_quantile ({self.lower_quantile}) must be below upper_quantile "
                             f"({self.upper_quantile})")
        return self


class FeatureSpec(_Strict):
    name: str
    transform: Literal["none", "log", "log1p"] = "none"
    capping: Capping | None = Field(None, description="overrides the recipe's capping for this feature")

    @field_validator("name")
    @classmethod
    def _known(cls, name: str) -> str:
        if name not in FEATURE_CATALOG:
            raise ValueError(f"unknown feature {name!r}; known features: {', '.join(FEATURE_CATALOG)}")
        return name


class KRange(_Strict):
    min: int = Field(2, ge=2, le=30)
    max: int = Field(10, ge=2, le=30)

    @model_validator(mode="after")
    def _ordered(self) -> KRange:
        if self.min > self.max:
            raise ValueError(f"k range min ({self.min}) is above max ({self.max})")
        return self


class Recipe(_Strict):
    name: str
    description: str = ""
    source: Literal["customers", "orders"] = Field("customers", description=(
        "customers: one pre-aggregated row per customer (source.customers or a mapped profile table); "
        "orders: the customers' orders (source.orders or a mapped orders table), summarised as RFM"))
    features: Annotated[list[FeatureSpec], Field(min_length=1)]
    capping: Capping = Capping()
    scaler: Literal["minmax", "standard"] = "standard"
    k: int | KRange = KRange()
    random_state: int = 42
    n_init: int = Field(10, ge=1, le=100)
    test_size: float = Field(0.3, gt=0, lt=1)
    training_sample: int = Field(200_000, ge=100, description=(
        "most customers the model stage reads (drift check, preprocessing, k search, fit, segment names); "
        "every customer is then placed by the model in the database"))
    selection_sample: int = Field(50_000, ge=100, description="most customers the k search (train/test) uses")
    silhouette_sample: int = Field(20_000, ge=100)
    silhouette_tolerance: float = Field(0.25, ge=0, le=1, description="keep the elbow's k while its held-out "
                                        "silhouette is within this relative distance of the best k's")
    fit_on: Literal["all", "train"] = "all"
    duplicates: Literal["keep", "keep_first", "quarantine"] = "keep"
    tenure_reference_date: date | None = None
    age_reference_year: int | None = Field(None, ge=1900, le=2200)
    missing_values: dict[str, Literal["quarantine", "median", "mean", "zero"]] = {"income": "quarantine"}
    row_checks: dict[str, Literal["quarantine", "keep"]] = {check: "quarantine" for check in ROW_CHECKS}
    tiers_by: Literal["spend", "expected_value"] = Field("spend", description=(
        "what ranks a trained model's segments into tiers: spend (their customers' mean past spend) or "
        "expected_value (their mean expected value over the next 365 days; orders source only)"))

    @field_validator("k")
    @classmethod
    def _k_bounds(cls, k: int | KRange) -> int | KRange:
        if isinstance(k, int) and not 2 <= k <= 30:
            raise ValueError(f"k must be between 2 and 30, got {k}")
        return k

    @field_validator("features")
    @classmethod
    def _unique(cls, features: list[FeatureSpec]) -> list[FeatureSpec]:
        names = [feature.name for feature in features]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"features listed twice: {', '.join(repeated)}")
        return features

    @model_validator(mode="after")
    def _features_of_the_source(self) -> Recipe:
        if self.source == "orders":
            other = [name for name in self.feature_names if name not in ORDER_FEATURES]
            if other:
                raise ValueError(f"features {', '.join(other)} need a customer-profile source; an orders source "
                                 f"gives {', '.join(ORDER_FEATURES)}")
        if self.tiers_by == "expected_value" and self.source != "orders":
            raise ValueError("tiers_by: expected_value needs source: orders (only an orders source has a "
                             "predicted value); use tiers_by: spend")
        return self

    @field_validator("missing_values")
    @classmethod
    def _missing_known(cls, policies: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(policies) - {"income"})
        if unknown:
            raise ValueError(f"missing-value policies apply to nullable source columns (income); got {unknown}")
        return policies

    @field_validator("row_checks")
    @classmethod
    def _checks_known(cls, checks: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(checks) - set(ROW_CHECKS))
        if unknown:
            raise ValueError(f"unknown row checks {unknown}; known: {', '.join(ROW_CHECKS)}")
        return {check: checks.get(check, "quarantine") for check in ROW_CHECKS}

    @property
    def feature_names(self) -> list[str]:
        return [feature.name for feature in self.features]

    def capping_for(self, feature: FeatureSpec) -> Capping:
        return feature.capping or self.capping

    def k_candidates(self) -> list[int]:
        return [self.k] if isinstance(self.k, int) else list(range(self.k.min, self.k.max + 1))


def available_recipes() -> list[str]:
    return sorted(path.stem for path in RECIPES_DIR.glob("*.yaml"))


def load_recipe(name_or_path: str) -> Recipe:
    """A recipe by name (recipes/NAME.yaml) or by file path, validated."""
    path = Path(name_or_path)
    if not path.suffix:
        path = RECIPES_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        raise ConfigurationError(
            f"recipe {name_or_path!r} not found (looked for {path}); available: {', '.join(available_recipes())}")
    try:
        document = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise ConfigurationError(f"recipe {path} is not valid YAML: {error}") from error
    return parse_recipe(document, source=str(path))


def parse_recipe(document: object, source: str = "<recipe>") -> Recipe:
    if not isinstance(document, dict):
        raise ConfigurationError(f"recipe {source} must be a mapping of settings")
    try:
        return Recipe.model_validate(document)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in problem['loc']) or '(recipe)'}: {problem['msg']}"
            for problem in error.errors())
        raise ConfigurationError(f"recipe {source} is invalid: {problems}") from error
