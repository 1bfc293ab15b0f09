"""Validation seconds per million customers, on generated data, against a one-pass SQL baseline.

For each size: generate customers (tasks.load.generate), extract them, then time the three Great
Expectations suites as the flow runs them (contract on the source, row-level on the extract with
quarantine, features). The baseline, timed in the same process on the same data, is one SQL pass
over the extract that evaluates the same row-level rules (tasks.validation.quarantine.quarantine_rows alone):
the ratio says what GX's per-expectation queries cost over the least the database must do.

    .venv/bin/python benchmarks/validation_benchmark.py --sizes 100000 1000000

Writes benchmarks/validation_results.md and .csv (not a test: machines here are noisy).
"""

from __future__ import annotations

import argparse
import csv
import platform
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tasks.db.server import database  # noqa: E402
from tasks.extract.customers import SourceMapping, extract_customers  # noqa: E402
from tasks.features.compute import compute_features  # noqa: E402
from tasks.load.generate import generate_customers  # noqa: E402
from tasks.db.migrations import upgrade_schema  # noqa: E402
from tasks.features.recipes import load_recipe  # noqa: E402
from tasks.pipeline.record import finish_run, start_run  # noqa: E402
from tasks.settings import get_settings  # noqa: E402
from tasks.validation import (  # noqa: E402
    ValidationConfig,
    validate_features,
    validate_rows,
    validate_source_contract,
)
from tasks.validation.gx_runner import gx_context  # noqa: E402
from tasks.validation.quarantine import quarantine_rows  # noqa: E402

HERE = Path(__file__).resolve().parent
COLUMNS = ["customers", "contract_s", "rows_s", "features_s", "validation_s", "validation_s_per_million",
           "sql_one_pass_s", "validation_over_one_pass"]


def timed(action) -> tuple[float, object]:
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


def measure(engine, customers: int) -> dict:
    generate_customers(engine, customers)
    extract = extract_customers(engine, SourceMapping(), today=date.today())
    as_of = extract.snapshot_date
    recipe = load_recipe("default")
    config = ValidationConfig(max_quarantine_share=1.0, max_row_count_drop=1.0)
    run_id = start_run(engine, mode_requested="auto", recipe_name=recipe.name, parameters={"benchmark": True},
                       flow_run_id=None)

    contract_s, _ = timed(lambda: validate_source_contract(engine, SourceMapping(), config, docs=None))
    rows_s, _ = timed(lambda: validate_rows(engine, run_id=run_id, recipe=recipe, config=config, as_of=as_of,
                                            docs=None))
    compute_features(engine, recipe, as_of=as_of, snapshot_date=extract.snapshot_date, run_id=run_id)
    features_s, _ = timed(lambda: validate_features(engine, docs=None))

    baseline_run = start_run(engine, mode_requested="auto", recipe_name=recipe.name,
                             parameters={"benchmark": "baseline"}, flow_run_id=None)

    def one_pass() -> None:
        quarantine_rows(engine, run_id=baseline_run, recipe=recipe, config=config, as_of=as_of)

    baseline_s, _ = timed(one_pass)
    for benchmark_run in (run_id, baseline_run):
        finish_run(engine, benchmark_run, status="failed", failed_stage="benchmark", error="benchmark run, not published")
    validation_s = contract_s + rows_s + features_s
    return {"customers": customers, "contract_s": round(contract_s, 2), "rows_s": round(rows_s, 2),
            "features_s": round(features_s, 2), "validation_s": round(validation_s, 2),
            "validation_s_per_million": round(validation_s / customers * 1e6, 2),
            "sql_one_pass_s": round(baseline_s, 2), "validation_over_one_pass": round(validation_s / baseline_s, 1)}


def write_results(rows: list[dict], out_dir: Path) -> None:
    with (out_dir / "validation_results.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    lines = [f"# Validation benchmark ({date.today()}, {platform.machine()}, {platform.python_version()})", "",
             "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(str(row[column]) for column in COLUMNS) + " |" for row in rows]
    (out_dir / "validation_results.md").write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args(argv)
    gx_context(None)  # import Great Expectations once, outside the timings
    rows = []
    with database(get_settings()) as engine:
        upgrade_schema(engine)
        for customers in args.sizes:
            row = measure(engine, customers)
            print(row, flush=True)  # noqa: T201
            rows.append(row)
    write_results(rows, args.out)
    return rows


if __name__ == "__main__":
    main()
