"""Bands of the conversion analysis (config/bands.yaml): which column, which bounds, how labelled."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from tasks.errors import ConfigurationError
from tasks.settings import PROJECT_ROOT

DEFAULT_BANDS_FILE = PROJECT_ROOT / "config" / "bands.yaml"
# Numeric columns of segmentation.customer_segments a dimension may band.
BANDABLE_COLUMNS = ("income", "monetary", "age", "children_home", "recency_days", "frequency", "tenure_days",
                    "campaign_acceptances", "web_visits_month", "spend_per_purchase")
MAX_BANDS = 200


class DimensionBands(BaseModel):
    """One dimension: bands of a column, from start/step/open_above or from explicit bounds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    column: Literal[BANDABLE_COLUMNS]  # type: ignore[valid-type]
    kind: Literal["amount", "integer"] = "integer"
    start: float | None = None
    step: float | None = Field(None, gt=0)
    open_above: float | None = None
    bounds: list[float] | None = None

    @model_validator(mode="after")
    def _bounds_given_once(self) -> DimensionBands:
        generated = (self.start, self.step, self.open_above)
        if self.bounds is not None:
            if any(value is not None for value in generated):
                raise ValueError("give either bounds or start/step/open_above, not both")
            if not self.bounds or any(b >= a for a, b in zip(self.bounds[1:], self.bounds)):
                raise ValueError(f"bounds must be a non-empty ascending list, got {self.bounds}")
        elif any(value is None for value in generated):
            raise ValueError("give start, step and open_above (or bounds)")
        elif self.open_above <= self.start:  # type: ignore[operator]
            raise ValueError(f"open_above ({self.open_above}) must be above start ({self.start})")
        if len(self.lower_bounds()) > MAX_BANDS:
            raise ValueError(f"more than {MAX_BANDS} bands: use a larger step")
        return self

    def lower_bounds(self) -> list[float]:
        """Each band's inclusive lower bound, ascending; the last band is open above."""
        if self.bounds is not None:
            return list(self.bounds)
        count = math.floor((self.open_above - self.start) / self.step + 1e-9)  # type: ignore[operator]
        bounds = [self.start + index * self.step for index in range(count)]  # type: ignore[operator]
        return [*bounds, self.open_above] if bounds[-1] < self.open_above else bounds  # type: ignore[list-item]


class BandsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    dimensions: dict[str, DimensionBands]


@dataclass(frozen=True)
class Band:
    order: int
    label: str
    lower: float | None
    upper: float | None


def load_bands(path: Path | None = None) -> BandsConfig:
    """The bands file (default config/bands.yaml), validated; errors name the file and the field."""
    path = path or DEFAULT_BANDS_FILE
    try:
        document = yaml.safe_load(Path(path).read_text())
    except FileNotFoundError as error:
        raise ConfigurationError(f"bands file {path} not found (set SEGMENTS_BANDS to an existing file, or unset "
                                 "it for config/bands.yaml)") from error
    except yaml.YAMLError as error:
        raise ConfigurationError(f"bands file {path} is not valid YAML: {error}") from error
    if not isinstance(document, dict) or not document:
        raise ConfigurationError(f"bands file {path} must map dimension names to bands (see config/bands.yaml)")
    if "segment" in document:
        raise ConfigurationError(f"bands file {path}: 'segment' is reserved for the per-segment analysis")
    try:
        return BandsConfig(dimensions=document)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(str(part) for part in e['loc'][1:])}: {e['msg']}" for e in error.errors())
        raise ConfigurationError(f"bands file {path}: {problems}") from error


def bands_of(dimension: DimensionBands, currency: str = "") -> tuple[list[Band], int]:
    """The bands of a dimension in PostgreSQL width_bucket order, and the order used for unknown values.

    width_bucket(value, lower_bounds) is 0 below the first bound, i for lower_bounds[i-1] <= value <
    lower_bounds[i], and len(lower_bounds) at or above the last bound.
    """
    bounds = dimension.lower_bounds()
    label = _amount_label(currency) if dimension.kind == "amount" else _integer_label
    bands = [Band(0, label(None, bounds[0]), None, bounds[0])]
    for order, lower in enumerate(bounds, start=1):
        upper = bounds[order] if order < len(bounds) else None
        bands.append(Band(order, label(lower, upper), lower, upper))
    unknown_order = len(bounds) + 1
    bands.append(Band(unknown_order, "unknown", None, None))
    return bands, unknown_order


def compact_number(value: float) -> str:
    """10000000 -> 10M, 2500000 -> 2.5M, 500000 -> 500K, 1250 -> 1.25K."""
    for divisor, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if abs(value) >= divisor:
            return f"{value / divisor:.3g}{suffix}"
    return f"{value:.3g}"


def _amount_label(currency: str):
    prefix = f"{currency} " if currency else ""

    def label(lower: float | None, upper: float | None) -> str:
        if lower is None:
            return f"under {prefix}{compact_number(upper)}"
        if upper is None:
            return f"{prefix}{compact_number(lower)}+"
        return f"{prefix}{compact_number(lower)}–{compact_number(upper)}"
    return label


def _integer_label(lower: float | None, upper: float | None) -> str:
    if lower is None:
        return f"under {upper:g}"
    if upper is None:
        return f"{lower:g}+"
    last = math.ceil(upper) - 1  # whole numbers: [30, 40) holds 30..39
    return f"{lower:g}" if last <= lower else f"{lower:g}–{last:g}"
