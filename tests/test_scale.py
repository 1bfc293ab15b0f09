"""The synthetic customer generator and the benchmark script, at small sizes (speed is measured, not tested)."""

from __future__ import annotations

import csv
import importlib.util
import re
import sys

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from tasks.extract.customers import SPEND_COLUMNS
from tasks.load.generate import FIRST_CUSTOMER_ID, PLAUSIBLE_BIRTH_YEAR_FROM, generate_customers
from tasks.load.customers_file import TABLE_COLUMNS
from tasks.pipeline.stages import STAGES
from tasks.settings import PROJECT_ROOT


def test_generated_customers_look_like_the_sample_with_fresh_ids_and_its_quirks(clean_db, sample_path):
    progress: list[int] = []
    result = generate_customers(clean_db, 6000, seed=3, chunk_rows=2500, progress=lambda rows, _: progress.append(rows))

    with clean_db.connect() as connection:
        frame = pd.read_sql(sa.text("SELECT * FROM source.customers"), connection)
        load = connection.execute(sa.text("SELECT currency, snapshot_date, row_count FROM source.loads "
                                          "WHERE load_id = :id"), {"id": result.load_id}).one()
    # Every column written, and the record hash and spend total PostgreSQL keeps beside them.
    assert [column for column in frame.columns if column not in ("record_hash", "spend_total")] == TABLE_COLUMNS
    assert frame["record_hash"].notna().all() and len(frame) == result.rows == 6000
    spends = frame[list(SPEND_COLUMNS)].astype(float).sum(axis=1, skipna=False)
    assert np.allclose(frame["spend_total"], spends, equal_nan=True)
    assert progress == [2500, 5000, 6000]
    assert frame["customer_id"].is_unique and frame["customer_id"].min() >= FIRST_CUSTOMER_ID
    assert (frame["load_id"] == result.load_id).all()
    assert (load.currency, str(load.snapshot_date), load.row_count) == ("IDR", "2014-06-30", 6000)

    sample = pd.read_csv(sample_path)
    spend = ["MntCoke", "MntFruits", "MntMeatProducts", "MntFishProducts", "MntSweetProducts", "MntGoldProds"]
    generated_monetary = frame[[f"spend_{c}" for c in ("wines", "fruits", "meat", "fish", "sweets", "gold")]] \
        .astype(float).sum(axis=1)
    assert generated_monetary.mean() == pytest.approx(sample[spend].sum(axis=1).mean(), rel=0.2)
    assert frame["income"].astype(float).median() == pytest.approx(sample["Income"].median(), rel=0.2)
    assert frame["recency_days"].between(0, 99).all()
    # Joint distribution: spenders buy more often in the sample, and still do.
    assert generated_monetary.corr(frame["purchases_store"].astype(float)) > 0.5
    assert set(frame["education"]) <= {"basic", "diploma", "bachelor", "master", "doctorate"}

    # The sample's quirks, at about its shares (1.1% missing income, 0.13% implausible birth years).
    missing_share = frame["income"].isna().mean()
    assert 0.004 < missing_share < 0.025 and frame["income"].isna().sum() == result.missing_income
    implausible = (frame["birth_year"] < PLAUSIBLE_BIRTH_YEAR_FROM).sum()
    assert implausible == result.implausible_birth_year and 1 <= implausible <= 40


def test_generation_is_repeatable_and_replaces_the_source(clean_db):
    first = generate_customers(clean_db, 500, seed=11)
    with clean_db.connect() as connection:
        before = connection.execute(sa.text("SELECT * FROM source.customers ORDER BY customer_id")).mappings().all()
    generate_customers(clean_db, 500, seed=11)
    with clean_db.connect() as connection:
        after = connection.execute(sa.text("SELECT * FROM source.customers ORDER BY customer_id")).mappings().all()
    assert len(after) == 500

    def without_load(rows: list) -> list[dict]:
        return [{column: value for column, value in row.items() if column != "load_id"} for row in rows]

    assert without_load(after) == without_load(before)  # same rows, new load id
    assert {row["load_id"] for row in after} == {first.load_id + 1}


def test_benchmark_runs_at_a_tiny_size_and_writes_its_tables(clean_db, tmp_path):
    spec = importlib.util.spec_from_file_location("run_benchmark", PROJECT_ROOT / "benchmarks" / "run_benchmark.py")
    benchmark = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = benchmark  # dataclasses look their module up there
    spec.loader.exec_module(benchmark)

    assert benchmark.main(["--sizes", "2000", "--repeat", "2", "--output-dir", str(tmp_path)]) == 0

    with (tmp_path / "stage_results.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == benchmark.RESULT_COLUMNS
    totals = {(row["scenario"], int(row["repeat"])): row for row in rows if row["stage"] == "total"}
    # One retrain; the reassign, its floor, the reassign without validation and the baseline twice, in turn.
    in_turn = ("reassign", "floor", benchmark.UNVALIDATED, "baseline")
    assert set(totals) == {("retrain", 1), ("floor after retrain", 1), *(
        (scenario, repeat) for scenario in in_turn for repeat in (1, 2))}
    assert [(row["scenario"], row["repeat"]) for row in rows if row["stage"] == "total"][2:] == [
        (scenario, repeat) for repeat in ("1", "2") for scenario in in_turn]
    # Without validation: no suite, no validate stage, the same stages otherwise.
    assert {row["stage"] for row in rows if row["scenario"] == benchmark.UNVALIDATED} == {
        row["stage"] for row in rows if row["scenario"] == "reassign"
        and row["stage"] != "validate" and not row["stage"].endswith(benchmark.ALONGSIDE)}
    assert all(float(row["seconds"]) > 0 and int(row["peak_rss_mb"]) > 0 for row in totals.values())
    # The server runs on this machine (embedded, or CI's system PostgreSQL): its CPU is counted with ours.
    assert all(float(row["cpu_seconds"]) > 0 for row in totals.values())
    for repeat in (1, 2):
        reassign_stages = [row for row in rows if row["scenario"] == "reassign" and int(row["repeat"]) == repeat
                           and row["stage"] != "total" and not row["stage"].endswith(benchmark.ALONGSIDE)]
        assert float(totals["reassign", repeat]["cpu_seconds"]) == pytest.approx(
            sum(float(row["cpu_seconds"]) for row in reassign_stages), abs=0.1)
        # Each run is compared with the floor timed right after it, and with the baseline timed after that.
        run = totals["reassign", repeat]
        assert float(run["ratio_to_floor"]) == pytest.approx(
            float(run["seconds"]) / float(totals["floor", repeat]["seconds"]), rel=0.05)
        assert float(run["baseline_over_run"]) == pytest.approx(
            float(totals["baseline", repeat]["seconds"]) / float(run["seconds"]), rel=0.05)
    assert float(totals["retrain", 1]["ratio_to_floor"]) == pytest.approx(
        float(totals["retrain", 1]["seconds"]) / float(totals["floor after retrain", 1]["seconds"]), rel=0.05)
    stages = {row["stage"] for row in rows if row["scenario"] == "reassign"}
    assert {"prepare-database", *STAGES} <= stages  # the run's own stages (tasks.pipeline.stages), each timed
    # The summary gives the median of the two reassigns, with their range.
    ratios = sorted(float(totals["reassign", repeat]["ratio_to_floor"]) for repeat in (1, 2))
    summary = next(line for line in (tmp_path / "stage_results.md").read_text().splitlines() if line.startswith("| 2,000 |"))
    assert summary.startswith("| 2,000 | 2 |")
    cells = summary.split(" | ")
    middle, low, high = map(float, re.fullmatch(r"([\d.]+)x \(([\d.]+)x-([\d.]+)x\)", cells[7]).groups())
    # The CSV keeps three significant figures: within half a unit of the third (0.5%), or 0.11 below 10.
    assert (middle, low, high) == pytest.approx((sum(ratios) / 2, *ratios), rel=0.005, abs=0.11)
    # The validation share measured against the run without validation (median of the two), then with the
    # suites beside other stages counted in full, then without them.
    measured, upper, stage_alone = (int(re.match(r"(-?\d+)%", cell).group(1)) for cell in cells[9:12])
    shares = [1 - float(totals[benchmark.UNVALIDATED, repeat]["seconds"]) / float(totals["reassign", repeat]["seconds"])
              for repeat in (1, 2)]
    assert measured == pytest.approx(100 * sum(shares) / 2, abs=1.01)
    assert 0 < stage_alone <= upper <= 100
    # The table is made from the CSV's rounded figures, so rendering it again from the CSV alone gives it back.
    benchmark.render_from_csv(tmp_path)
    rendered = next(line for line in (tmp_path / "stage_results.md").read_text().splitlines()
                    if line.startswith("| 2,000 |"))
    assert rendered == summary
    # The pipeline really ran: every customer that passed validation is published.
    # The run without validation set aside the customers the reassign before it quarantined (runs 2 and 3).
    with clean_db.connect() as connection:
        published = connection.scalar(sa.text("SELECT count(*) FROM segmentation.customer_segments"))
        quarantined = {run: connection.execute(sa.text(
            "SELECT customer_id, reasons FROM segmentation_restricted.quarantined_customers WHERE run_id = :run "
            "ORDER BY customer_id"), {"run": run}).all() for run in (2, 3)}
    assert published + len(quarantined[2]) == 2000 and quarantined[2] and quarantined[3] == quarantined[2]


def test_orders_benchmark_runs_at_a_tiny_size_and_its_incremental_night_equals_a_full_rebuild(clean_db, tmp_path):
    spec = importlib.util.spec_from_file_location("orders_benchmark",
                                                  PROJECT_ROOT / "benchmarks" / "orders_benchmark.py")
    benchmark = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = benchmark  # dataclasses look their module up there
    spec.loader.exec_module(benchmark)

    # 0: the RFM summary after the incremental night equals a full rebuild's (the script compares them).
    assert benchmark.main(["--orders", "20000", "--seed", "7", "--output-dir", str(tmp_path)]) == 0

    with (tmp_path / "orders_results.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == benchmark.RESULT_COLUMNS
    scenarios = (benchmark.FLOOR, benchmark.FULL, benchmark.INCREMENTAL)
    totals = {row["scenario"]: row for row in rows if row["stage"] == "total"}
    assert set(scenarios) <= set(totals)
    for scenario in scenarios:
        assert float(totals[scenario]["seconds"]) > 0 and int(totals[scenario]["peak_rss_mb"]) > 0
        assert float(totals[scenario]["cpu_seconds"]) > 0  # the server runs on this machine
    stages = {(row["scenario"], row["stage"]) for row in rows if row["stage"] != "total"}
    assert {(benchmark.FULL, "refresh_order_days (full)"), (benchmark.FULL, "summarise_customers"),
            (benchmark.INCREMENTAL, "refresh_order_days (incremental)"),
            (benchmark.INCREMENTAL, "summarise_customers")} <= stages
    # Ratios from the unrounded seconds (the CSV keeps milliseconds, tiny at this size).
    full, floor, night = (float(totals[s]["seconds"]) for s in (benchmark.FULL, benchmark.FLOOR, benchmark.INCREMENTAL))
    assert float(totals[benchmark.FULL]["ratio_to_floor"]) == pytest.approx(full / floor, rel=0.1, abs=0.05)
    assert float(totals[benchmark.INCREMENTAL]["ratio_to_full"]) == pytest.approx(night / full, rel=0.1, abs=0.05)
    # The night: 1% new orders and 0.1% late corrections, and the incremental refresh read just those.
    refresh = next(row for row in rows if row["stage"] == "refresh_order_days (incremental)")
    assert int(refresh["rows"]) == 200 + 20
    with clean_db.connect() as connection:
        assert connection.scalar(sa.text("SELECT count(*) FROM source.orders")) == 20000 + 220
        assert connection.scalar(sa.text("SELECT count(*) FROM source.orders WHERE amount < 0")) == 20
        # The night's summary (kept by the script) against the full rebuild's, row for row.
        kept, rebuilt = (connection.execute(sa.text(f"SELECT * FROM {table} ORDER BY customer_id")).all()
                         for table in ("benchmark.rfm_after_night", "segmentation_work.customer_rfm"))
    assert len(kept) > 1500 and kept == rebuilt
    summary = next(line for line in (tmp_path / "orders_results.md").read_text().splitlines()
                   if line.startswith("| 20,000 |"))
    assert summary.endswith("| yes (0 of " + f"{len(kept):,} rows differ) |")
    targets = (tmp_path / "orders_results.md").read_text()
    assert "full build within 1.5x of the floor" in targets and "at most 10% of a full build" in targets
