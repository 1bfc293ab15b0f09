"""Synthetic customers for scale tests: N rows that look like the bundled sample, loaded with COPY.

Rows are resampled from the sample (so the columns keep their joint distribution: a big spender stays
a big spender in every category), then jittered a little (amounts, counts, dates), given fresh ids,
and a share of the sample's quirks is put back on purpose: missing incomes (~1%) and a few implausible
birth years, so validation has the same work to do as on real exports. Memory is bounded by the chunk
size, not by N.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tasks.errors import ConfigurationError
from tasks.load.customers_file import (
    TABLE_COLUMNS,
    Vocabulary,
    convert_chunk,
    detect_date_format,
    iter_chunks,
    map_header,
    read_header,
    sniff_delimiter,
)
from tasks.settings import SAMPLE_DATA
from tasks.db.sql import copy_in_arrays, run_sql_file, sql_file, vacuum_after_load

MIN_CUSTOMERS, MAX_CUSTOMERS = 1, 50_000_000
GENERATE_CHUNK_ROWS = 100_000
FIRST_CUSTOMER_ID = 100_001  # above the sample's ids, so generated customers are never mistaken for real ones
SPEND_COLUMNS = ["spend_wines", "spend_fruits", "spend_meat", "spend_fish", "spend_sweets", "spend_gold"]
COUNT_COLUMNS = ["purchases_deals", "purchases_web", "purchases_catalog", "purchases_store", "web_visits_month"]
# Birth years the sample itself has (1893, 1899, 1900): implausible for a living customer.
IMPLAUSIBLE_BIRTH_YEARS = (1893, 1899, 1900)
PLAUSIBLE_BIRTH_YEAR_FROM = 1901


@dataclass(frozen=True)
class GenerateResult:
    load_id: int
    rows: int
    missing_income: int
    implausible_birth_year: int
    currency: str
    snapshot_date: date
    seconds: float

    @property
    def rows_per_second(self) -> float:
        return self.rows / max(self.seconds, 1e-9)


@dataclass(frozen=True)
class SampleProfile:
    """The sample's clean rows (typed, canonical) and the facts the generator copies from it."""

    clean: pd.DataFrame
    missing_income_share: float
    implausible_birth_year_share: float
    currency: str
    first_enrolment: date
    last_enrolment: date
    amount_unit: float


def read_sample(connection: sa.Connection, path: Path = SAMPLE_DATA) -> SampleProfile:
    """Parse the sample with the loader's own reading (same typing, same label vocabulary)."""
    name = str(path)
    with path.open(encoding="utf-8-sig", newline="") as handle:
        delimiter = sniff_delimiter(handle.readline(), name)
    header_map = map_header(read_header(path, delimiter), name)
    headers = {canonical: header for header, canonical in header_map.items()}
    vocabulary = Vocabulary.read(connection)
    chunks = []
    for chunk in iter_chunks(path, delimiter, header_map):
        date_format = detect_date_format(chunk["enrolled_on"].str.strip(), name, 2)
        chunks.append(convert_chunk(chunk, path=name, headers=headers, date_format=date_format,
                                    vocabulary=vocabulary))
    typed = pd.concat(chunks, ignore_index=True)
    typed["enrolled_on"] = pd.to_datetime(typed["enrolled_on"])
    missing_income = typed["income"].isna()
    implausible = typed["birth_year"] < PLAUSIBLE_BIRTH_YEAR_FROM
    clean = typed[~missing_income & ~implausible].reset_index(drop=True)
    amounts = clean[SPEND_COLUMNS + ["income"]].to_numpy()
    unit = 1000.0 if np.all(np.mod(amounts, 1000) == 0) else 1.0  # the Indonesian variant counts in thousands
    return SampleProfile(
        clean=clean, missing_income_share=float(missing_income.mean()),
        implausible_birth_year_share=float(implausible.mean()),
        currency="IDR" if "MntCoke" in header_map else "USD",
        first_enrolment=typed["enrolled_on"].min().date(), last_enrolment=typed["enrolled_on"].max().date(),
        amount_unit=unit)


def synthesise_chunk(profile: SampleProfile, rng: np.random.Generator, first_id: int, rows: int,
                     missing_income_share: float, implausible_birth_year_share: float) -> pd.DataFrame:
    """`rows` customers resampled from the sample's clean rows, jittered, with fresh ids and quirks."""
    source = profile.clean
    chosen = source.iloc[rng.integers(0, len(source), rows)].reset_index(drop=True)
    out = pd.DataFrame({"customer_id": np.arange(first_id, first_id + rows, dtype="int64")})
    unit = profile.amount_unit
    for column in [*TABLE_COLUMNS]:
        if column in ("customer_id", "load_id"):
            continue
        out[column] = chosen[column].to_numpy()
    # Amounts: multiplicative noise keeps zeros at zero and the skew of the sample.
    for column in SPEND_COLUMNS:
        noisy = chosen[column].to_numpy() * rng.lognormal(0.0, 0.15, rows)
        out[column] = np.round(noisy / unit) * unit
    out["income"] = np.round(chosen["income"].to_numpy() * rng.lognormal(0.0, 0.05, rows) / unit) * unit
    for column in COUNT_COLUMNS:
        step = rng.integers(-1, 2, rows) * (rng.random(rows) < 0.3)
        out[column] = np.maximum(chosen[column].to_numpy() + step, 0)
    out["recency_days"] = np.clip(chosen["recency_days"].to_numpy() + rng.integers(-3, 4, rows), 0, 99)
    out["birth_year"] = chosen["birth_year"].to_numpy() + rng.integers(-2, 3, rows)
    enrolled = chosen["enrolled_on"] + pd.to_timedelta(rng.integers(-15, 16, rows), unit="D")
    enrolled = enrolled.clip(pd.Timestamp(profile.first_enrolment), pd.Timestamp(profile.last_enrolment))
    out["enrolled_on"] = enrolled.dt.strftime("%Y-%m-%d").to_numpy()
    # The sample's quirks, at the requested shares.
    out.loc[rng.random(rows) < missing_income_share, "income"] = np.nan
    odd_years = rng.random(rows) < implausible_birth_year_share
    out.loc[odd_years, "birth_year"] = rng.choice(IMPLAUSIBLE_BIRTH_YEARS, int(odd_years.sum()))
    return out


LABEL_FIELDS = ("education", "marital_status")
EPOCH = pd.Timestamp("1970-01-01")


def _label_codes(profile: SampleProfile) -> pd.DataFrame:
    """One row per (field, canonical, raw) label pair of the sample, with a small integer code."""
    frames = [profile.clean[[field, f"{field}_raw"]].drop_duplicates().set_axis(["canonical", "raw"], axis=1)
              .assign(field=field) for field in LABEL_FIELDS]
    labels = pd.concat(frames, ignore_index=True)
    labels["code"] = labels.groupby("field").cumcount().astype("int16")
    return labels


def _wire_arrays(chunk: pd.DataFrame, labels: pd.DataFrame) -> dict[str, np.ndarray]:
    """The chunk as fixed-width numeric arrays for binary COPY (labels as codes, dates as days since 1970)."""
    arrays: dict[str, np.ndarray] = {}
    for column in TABLE_COLUMNS:
        if column == "load_id" or column.endswith("_raw"):
            continue
        if column in LABEL_FIELDS:
            codes = labels[labels["field"] == column].set_index(["canonical", "raw"])["code"]
            keys = pd.MultiIndex.from_arrays([chunk[column], chunk[f"{column}_raw"]])
            arrays[f"{column}_code"] = codes.reindex(keys).to_numpy(dtype="int16")
        elif column == "enrolled_on":
            arrays["enrolled_day"] = ((pd.to_datetime(chunk[column]) - EPOCH).dt.days).to_numpy(dtype="int32")
        elif column in SPEND_COLUMNS or column == "income":
            arrays[column] = chunk[column].to_numpy(dtype="float64")  # NaN income becomes NULL in SQL
        elif column == "customer_id":
            arrays[column] = chunk[column].to_numpy(dtype="int64")
        else:
            arrays[column] = chunk[column].to_numpy(dtype="int32")
    return arrays


def generate_customers(engine: Engine, customers: int, *, seed: int = 7, chunk_rows: int = GENERATE_CHUNK_ROWS,
                       missing_income_share: float | None = None,
                       implausible_birth_year_share: float | None = None,
                       progress: Callable[[int, float], None] | None = None) -> GenerateResult:
    """Replace source.customers with `customers` synthetic customers (one transaction, COPY in chunks).

    Each chunk goes by binary COPY into a temporary table (numbers only: labels as codes, dates as
    day numbers), then one INSERT ... SELECT turns it into canonical rows: text CSV formatting in
    pandas was the bottleneck. The quirk shares default to the sample's own (about 1.1%
    missing income, 0.13% implausible birth years). A source.loads row records the currency and
    snapshot date, as `segments load` would.
    """
    if not MIN_CUSTOMERS <= customers <= MAX_CUSTOMERS:
        raise ConfigurationError(f"can generate {MIN_CUSTOMERS:,} to {MAX_CUSTOMERS:,} customers, not {customers:,}")
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    with engine.begin() as connection:
        profile = read_sample(connection)
        labels = _label_codes(profile)
        income_share = profile.missing_income_share if missing_income_share is None else missing_income_share
        birth_share = (profile.implausible_birth_year_share if implausible_birth_year_share is None
                       else implausible_birth_year_share)
        snapshot = profile.last_enrolment + timedelta(days=1)
        recipe = f"generated customers={customers} seed={seed} missing_income={income_share} birth={birth_share}"
        run_sql_file(connection, "load/truncate_customers.sql")
        load_id = run_sql_file(connection, "load/record_generated_load.sql", {
            "file_name": f"generated:{customers}", "file_sha256": hashlib.sha256(recipe.encode()).hexdigest(),
            "currency": profile.currency, "snapshot_date": snapshot, "row_count": customers}).scalar()
        run_sql_file(connection, "load/generated_tables.sql")
        connection.exec_driver_sql(sql_file("load/insert_generated_label.sql"),
                                   labels[["field", "code", "canonical", "raw"]].to_dict("records"))
        clear_chunk, insert = sql_file("load/truncate_generated_chunk.sql"), sql_file("load/insert_customers.sql")
        written = missing = odd_years = 0
        while written < customers:
            size = min(chunk_rows, customers - written)
            chunk = synthesise_chunk(profile, rng, FIRST_CUSTOMER_ID + written, size, income_share, birth_share)
            missing += int(chunk["income"].isna().sum())
            odd_years += int((chunk["birth_year"] < PLAUSIBLE_BIRTH_YEAR_FROM).sum())
            connection.exec_driver_sql(clear_chunk)
            copy_in_arrays(connection, "generated_chunk", _wire_arrays(chunk, labels))
            connection.exec_driver_sql(insert, {"load_id": load_id})
            written += size
            if progress:
                progress(written, time.perf_counter() - started)
    vacuum_after_load(engine, "source.customers")
    return GenerateResult(load_id, written, missing, odd_years, profile.currency, snapshot,
                          time.perf_counter() - started)
