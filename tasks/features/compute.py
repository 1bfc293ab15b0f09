"""Features: the RFM-style features of every modelled customer, computed in PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from functools import partial

import pandas as pd
from psycopg import sql as pgsql
from sqlalchemy.engine import Engine

from tasks.db.parallel import PARALLEL_PARTS, in_parallel
from tasks.extract.customers import EXTRACT_TABLE
from tasks.extract.orders import RFM_TABLE
from tasks.features.recipes import FEATURE_CATALOG, Recipe
from tasks.db.sql import (
    analyze_for_planning,
    identifier,
    page_ranges,
    read_arrays,
    run_sql_file,
    sql_file,
    sql_file_with_values,
)

FEATURE_COLUMNS = list(FEATURE_CATALOG)
FEATURES_TABLE = "segmentation_work.customer_features"


def feature_parameters(recipe: Recipe, as_of: date, snapshot_date: date, run_id: int) -> dict[str, object]:
    return {
        "as_of": as_of,
        "snapshot_date": snapshot_date,
        "tenure_reference_date": recipe.tenure_reference_date or as_of,
        "age_reference_year": recipe.age_reference_year or as_of.year,
        "run_id": run_id,
    }


def compute_features(engine: Engine, recipe: Recipe, *, as_of: date, snapshot_date: date, run_id: int,
                     parts: int = PARALLEL_PARTS) -> int:
    """Fill segmentation_work.customer_features for the extract's customers validation did not quarantine;
    returns how many. The table has no key (sql/migrations/versions/0009_features_without_key.sql): the
    source contract proved the ids unique.

    The previous run's table is retired (tasks.db.sql.RetiredTables drops it) for a new, empty one. The extract
    is split into `parts` ranges of pages, each computed at once by its own connection (one statement keeps
    one core busy) into its own table by CREATE TABLE AS, PostgreSQL's bulk write path (faster than
    INSERT ... SELECT), which then inherits customer_features: readers of that table read the parts' rows.
    Only committed extracts are seen.
    """
    # The customers' rows: the extract of a customer-profile source, or the RFM summary of an orders one.
    source_table, query = ((RFM_TABLE, "features/order_features.sql") if recipe.source == "orders"
                           else (EXTRACT_TABLE, "features/customer_features.sql"))
    with engine.begin() as connection:
        run_sql_file(connection, "features/replace_features_table.sql")  # the old one retired
        ranges = page_ranges(connection, source_table, parts)
    parameters = feature_parameters(recipe, as_of, snapshot_date, run_id)

    def compute_part(part: int, rows: dict[str, str]) -> int:
        table = f"{FEATURES_TABLE}_p{part}"
        with engine.begin() as connection:
            computed = run_sql_file(connection, query, {**parameters, **rows}, part=table).rowcount
            run_sql_file(connection, "features/inherit_features.sql", part=table)
            return computed

    inserted = sum(in_parallel([partial(compute_part, part, rows) for part, rows in enumerate(ranges)]))
    with engine.begin() as connection:
        analyze_for_planning(connection, FEATURES_TABLE,
                             *[f"{FEATURES_TABLE}_p{part}" for part in range(len(ranges))])
    return inserted


@dataclass(frozen=True)
class ModelledCustomers:
    """The customers a run models: how many, and the sample of their features the model stage reads."""

    count: int
    sample: pd.DataFrame


# Columns the model stage reads besides the recipe's features: cluster_summary and the segment names.
SUMMARY_COLUMNS = ["recency_days", "frequency", "monetary", "tenure_days", "campaign_acceptances"]


def model_columns(recipe: Recipe) -> list[str]:
    """The feature columns the train/reassign stage reads, for its sample (the published rows are scored
    and assembled in SQL)."""
    return [column for column in FEATURE_COLUMNS if column in recipe.feature_names or column in SUMMARY_COLUMNS]


def read_features(engine: Engine, columns: list[str] | None = None,
                  progress: Callable[[int, float], None] | None = None, *, sample: int | None = None,
                  seed: int = 0, modelled: int | None = None) -> pd.DataFrame:
    """The run's (committed) features, ordered by customer id (the same data always gives the same result).

    Read through ADBC into float64 arrays (tasks.db.sql.read_arrays): memory is the arrays themselves.
    `columns` (default: all) limits what is read; missing income arrives as NaN. With `sample`, a run of
    more customers reads about that many: those whose id hashes (with `seed`) into the matching share of
    the hash range, so the same customers give the same sample whatever the table's order. `modelled` is
    the table's row count when the caller knows it (compute_features returns it), else it is counted.
    """
    wanted = [column for column in FEATURE_COLUMNS if columns is None or column in columns]
    selected = pgsql.SQL(", ").join(
        [pgsql.SQL("customer_id")]
        + [pgsql.SQL("coalesce({column}, 'NaN') AS {column}").format(column=identifier(column, "feature"))
           for column in wanted]
        + ([pgsql.SQL("coalesce(response, 0::smallint) AS response")] if columns is None else []))
    kinds = {"customer_id": "i8", **{column: "f8" for column in wanted},
             **({"response": "i2"} if columns is None else {})}
    count_query = sql_file("features/count_features.sql")
    if sample is not None:
        with engine.connect() as connection:
            if modelled is None:
                modelled = int(connection.exec_driver_sql(count_query).scalar_one())
            sampled = modelled > sample
            if sampled:
                query = sql_file_with_values(connection, "features/read_feature_sample.sql",
                                             {"seed": int(seed), "bound": _sample_bound(sample, modelled)},
                                             columns=selected)
        if sampled:
            return pd.DataFrame(read_arrays(engine, query, None, kinds, progress=progress), copy=False)
    arrays = read_arrays(engine, sql_file("features/read_features.sql", columns=selected),
                         count_query, kinds, progress=progress)
    return pd.DataFrame(arrays, copy=False)


def _sample_bound(sample: int, modelled: int) -> int:
    """The hash below which about `sample` of `modelled` customers lie: hashint8extended spreads ids uniformly
    over the bigint range, so its share `sample / modelled` lies below this bound."""
    return int(-(2 ** 63) + sample / modelled * 2 ** 64)
