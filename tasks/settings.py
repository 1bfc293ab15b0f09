"""Where the pipeline keeps its state and which database it talks to."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SAMPLE_DATA = PROJECT_ROOT / "data" / "marketing_campaign_data.csv"


def _default_state_dir() -> Path:
    # In a checkout, keep state beside the code (git-ignored); installed elsewhere, in the working dir.
    if (PROJECT_ROOT / "pyproject.toml").exists():
        return PROJECT_ROOT / ".state"
    return Path.cwd() / ".state"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    database_url: str | None = Field(
        default=None, validation_alias="DATABASE_URL",
        description="SQLAlchemy URL of an existing PostgreSQL; unset starts the embedded server.")
    state_dir: Path = Field(
        default_factory=_default_state_dir, validation_alias="SEGMENTS_STATE_DIR",
        description="Embedded server data, Data Docs, reports.")
    source_mapping: Path | None = Field(
        default=None, validation_alias="SEGMENTS_SOURCE_MAPPING",
        description="YAML file mapping a platform table's columns onto the canonical contract.")
    bands_file: Path | None = Field(
        default=None, validation_alias="SEGMENTS_BANDS",
        description="YAML file with the insight report's conversion bands (default config/bands.yaml).")
    parallel_connections: int | None = Field(
        default=None, ge=1, le=32, validation_alias="SEGMENTS_PARALLEL_CONNECTIONS",
        description="Connections that share a bulk statement (extract, features, staging); default: this "
                    "machine's cores, at most 4.")
    business_timezone: str = Field(
        default="UTC", validation_alias="SEGMENTS_BUSINESS_TIMEZONE",
        description="IANA time zone whose calendar days are purchase days (orders sources).")
    data_docs_runs: int = Field(
        default=30, ge=1, validation_alias="SEGMENTS_DATA_DOCS_RUNS",
        description="Validations of each suite kept in the Data Docs and their stores (the newest); older "
                    "ones are deleted before the index is built, which reads every one kept.")

    @field_validator("business_timezone")
    @classmethod
    def _iana_time_zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"{name!r} is not an IANA time zone (e.g. UTC, Europe/Berlin, America/New_York)") \
                from error
        return name


def get_settings() -> Settings:
    settings = Settings()
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    return settings
