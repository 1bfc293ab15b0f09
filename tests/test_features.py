"""Feature formulas (sql/features/customer_features.sql) against hand-computed rows."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest
import sqlalchemy as sa

from tasks.features.compute import compute_features, read_features
from tasks.features.recipes import load_recipe
from tasks.pipeline.record import start_run

COLUMNS = ("customer_id, birth_year, education, marital_status, income, kids_home, teens_home, enrolled_on, "
           "recency_days, spend_wines, spend_fruits, spend_meat, spend_fish, spend_sweets, spend_gold, "
           "purchases_deals, purchases_web, purchases_catalog, purchases_store, web_visits_month, accepted_cmp1, "
           "accepted_cmp2, accepted_cmp3, accepted_cmp4, accepted_cmp5, response, complain")


@pytest.fixture
def crafted(clean_db):
    with clean_db.begin() as connection:
        connection.exec_driver_sql(
            f"INSERT INTO segmentation_work.customers_extract ({COLUMNS}) VALUES "
            # an ordinary customer
            "(1, 1980, 'master', 'married', 50000, 1, 1, '2014-01-01', 10, 100, 200, 300, 400, 500, 600, "
            " 1, 2, 3, 4, 5, 1, 0, 1, 0, 0, 1, 0),"
            # no web visits, no purchases, no known income
            "(2, 1990, 'basic', 'single', NULL, 0, 0, '2013-06-30', 99, 0, 0, 0, 0, 0, 0, "
            " 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1),"
            # quarantined by the run: must not get features
            "(3, 1970, 'basic', 'single', 1, 0, 0, '2013-06-30', 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0)")
        # The spend total source.customers keeps, which the extract copies with the rest of the record.
        connection.exec_driver_sql("UPDATE segmentation_work.customers_extract SET spend_total = "
                                   "source.customer_spend_total(spend_wines, spend_fruits, spend_meat, spend_fish, "
                                   "spend_sweets, spend_gold)")
    run_id = start_run(clean_db, mode_requested="auto", recipe_name="default", parameters={}, flow_run_id=None)
    with clean_db.begin() as connection:
        connection.execute(sa.text("INSERT INTO segmentation_restricted.quarantined_customers "
                                   "VALUES (:r, 3, '{test}', '{}')"), {"r": run_id})
    return clean_db, run_id


def features_for(engine, run_id, recipe_name="default", as_of=date(2014, 6, 30), snapshot=date(2014, 6, 30)):
    compute_features(engine, load_recipe(recipe_name), as_of=as_of, snapshot_date=snapshot, run_id=run_id)
    return read_features(engine).set_index("customer_id")


def test_hand_computed_features(crafted):
    engine, run_id = crafted
    features = features_for(engine, run_id)
    assert list(features.index) == [1, 2]  # ordered, quarantined customer left out
    first = features.loc[1]
    assert first["recency_days"] == 10
    assert first["frequency"] == 1 + 2 + 3 + 4
    assert first["monetary"] == 100 + 200 + 300 + 400 + 500 + 600
    assert first["tenure_days"] == 180  # 2014-01-01 -> 2014-06-30
    assert first["campaign_acceptances"] == 3  # cmp1, cmp3 and the last response
    assert first["age"] == 2014 - 1980
    assert first["income"] == 50000
    assert first["children_home"] == 2
    assert first["web_visits_month"] == 5
    assert first["conversion_rate"] == pytest.approx(10 / 5)
    assert first["spend_per_purchase"] == pytest.approx(2100 / 10)
    assert first["response"] == 1


def test_zero_visits_zero_purchases_and_missing_income(crafted):
    engine, run_id = crafted
    second = features_for(engine, run_id).loc[2]
    assert second["conversion_rate"] == 0 and second["spend_per_purchase"] == 0
    assert np.isnan(second["income"])  # left for the recipe's missing-value rule
    assert np.isfinite(second.drop("income").to_numpy(dtype=float)).all()


def test_as_of_shifts_recency_and_reference_recipe_dates(crafted):
    engine, run_id = crafted
    later = features_for(engine, run_id, as_of=date(2014, 7, 10))
    assert later.loc[1, "recency_days"] == 20 and later.loc[1, "tenure_days"] == 190
    reference = features_for(engine, run_id, recipe_name="reference-rfmlc")
    assert reference.loc[1, "tenure_days"] == (date(2022, 8, 23) - date(2014, 1, 1)).days
    assert reference.loc[1, "age"] == 2022 - 1980
