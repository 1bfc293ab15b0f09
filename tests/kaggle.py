"""Turn the bundled sample into the original Kaggle export's dialect, for loader tests."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

EDUCATION_EN = {"SMA": "Basic", "D3": "2n Cycle", "S1": "Graduation", "S2": "Master", "S3": "PhD"}
MARITAL_EN = {"Menikah": "Married", "Bertunangan": "Together", "Lajang": "Single", "Cerai": "Divorced",
              "Janda": "Widow", "Duda": "Widow"}
AMOUNTS = ["Income", "MntCoke", "MntFruits", "MntMeatProducts", "MntFishProducts", "MntSweetProducts", "MntGoldProds"]


def write_kaggle_variant(sample: Path, target: Path, *, sep: str = "\t", iso_dates: bool = False,
                         bom: bool = False) -> pd.DataFrame:
    frame = pd.read_csv(sample, dtype=str, keep_default_na=False).drop(columns=["Number"])
    frame["Education"] = frame["Education"].map(EDUCATION_EN)
    frame["Marital_Status"] = frame["Marital_Status"].map(MARITAL_EN)
    for column in AMOUNTS:
        numbers = pd.to_numeric(frame[column], errors="coerce") / 1000
        frame[column] = numbers.map(lambda value: "" if pd.isna(value) else f"{value:g}")
    frame = frame.rename(columns={"MntCoke": "MntWines"})
    if iso_dates:
        frame["Dt_Customer"] = pd.to_datetime(frame["Dt_Customer"], format="%d-%m-%Y").dt.strftime("%Y-%m-%d")
    text = frame.to_csv(sep=sep, index=False)
    target.write_bytes(("\ufeff" if bom else "").encode() + text.encode())
    return frame
