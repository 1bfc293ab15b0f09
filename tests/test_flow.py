"""The nightly flow end to end on a real PostgreSQL, under Prefect's test harness."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest
import sqlalchemy as sa

from tasks.errors import SegmentsError
from tasks.load.customers_file import TABLE_COLUMNS, load_customers_file
from tasks.parameters import RunParameters


@pytest.fixture(scope="module")
def prefect_harness() -> Iterator[None]:
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture
def run_flow(prefect_harness):
    from flows.nightly import nightly_segmentation

    def run(**parameters) -> dict:
        return nightly_segmentation(parameters=RunParameters(**parameters))

    return run


def scalar(engine, query: str, **params):
    with engine.connect() as connection:
        return connection.scalar(sa.text(query), params)


def test_every_sample_customer_is_published_or_reported_excluded(clean_db, run_flow):
    # The embedded database is empty: the flow loads the bundled sample itself (a DATABASE_URL server
    # never gets data implicitly, so load it there the way a user would).
    from tasks.db.server import is_embedded
    from tasks.settings import SAMPLE_DATA, get_settings

    if not is_embedded(get_settings()):
        load_customers_file(clean_db, SAMPLE_DATA)

    summary = run_flow(mode="auto")

    run_id = summary["run"]["run_id"]
    published = scalar(clean_db, "SELECT count(*) FROM segmentation.customer_segments WHERE run_id = :r", r=run_id)
    quarantined = scalar(clean_db, "SELECT count(*) FROM segmentation_restricted.quarantined_customers "
                                   "WHERE run_id = :r", r=run_id)
    overlap = scalar(clean_db, "SELECT count(*) FROM segmentation.customer_segments c JOIN "
                               "segmentation_restricted.quarantined_customers q USING (customer_id) "
                               "WHERE q.run_id = :r", r=run_id)
    assert published + quarantined == 2240 and overlap == 0
    # The sample's documented quirks, with the default recipe: 24 missing incomes, 3 birth years before 1901.
    reasons = dict(sa_rows(clean_db, "SELECT reason, count(*) FROM segmentation_restricted.quarantined_customers, "
                                     "unnest(reasons) reason WHERE run_id = :r GROUP BY 1", r=run_id))
    assert reasons == {"missing_income": 24, "implausible_birth_year": 3}
    run = summary["run"]
    assert (run["status"], run["mode"], run["rows_extracted"], run["rows_published"]) == ("succeeded", "retrain",
                                                                                          2240, published)
    # Each published row carries its segment, tier and the features that placed it.
    incomplete = scalar(clean_db, "SELECT count(*) FROM segmentation.customer_segments WHERE segment_name IS NULL "
                                  "OR tier NOT IN ('Platinum', 'Gold', 'Silver', 'Bronze') OR monetary IS NULL")
    assert incomplete == 0
    profiles = sa_rows(clean_db, "SELECT customers, gmv_total FROM segmentation.segment_profiles WHERE run_id = :r",
                       r=run_id)
    assert sum(customers for customers, _ in profiles) == published
    total_spend = scalar(clean_db, "SELECT sum(monetary) FROM segmentation.customer_segments")
    assert sum(gmv for _, gmv in profiles) == pytest.approx(total_spend)

    # A second run on the same data reuses the model: reassign, same segments for everyone.
    before = sa_rows(clean_db, "SELECT customer_id, segment_id, tier FROM segmentation.customer_segments "
                               "ORDER BY customer_id")
    second = run_flow(mode="auto")
    assert second["run"]["mode"] == "reassign" and second["run"]["run_id"] == run_id + 1
    after = sa_rows(clean_db, "SELECT customer_id, segment_id, tier FROM segmentation.customer_segments "
                              "ORDER BY customer_id")
    assert after == before
    assert scalar(clean_db, "SELECT count(*) FROM segmentation.pipeline_runs WHERE status = 'succeeded'") == 2


def sa_rows(engine, query: str, **params) -> list[tuple]:
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(sa.text(query), params)]


def test_contract_breach_stops_the_run_and_keeps_published_segments(clean_db, sample_path, run_flow):
    load_customers_file(clean_db, sample_path)
    run_flow(mode="retrain", recipe="reference-rfmlc")
    published = sa_rows(clean_db, "SELECT * FROM segmentation.customer_segments ORDER BY customer_id")
    with clean_db.begin() as connection:  # a duplicated customer id breaks the source contract
        columns = ", ".join(TABLE_COLUMNS)  # every column but the record hash, which PostgreSQL computes
        connection.execute(sa.text(
            f"INSERT INTO source.customers ({columns}) SELECT {columns} FROM source.customers LIMIT 1"))  # noqa: S608

    with pytest.raises(SegmentsError, match=r"stage validate failed: .*expect_column_values_to_be_unique on "
                                            r"column 'customer_id'"):
        run_flow(mode="retrain")

    assert sa_rows(clean_db, "SELECT * FROM segmentation.customer_segments ORDER BY customer_id") == published
    failed = sa_rows(clean_db, "SELECT status, failed_stage, error FROM segmentation.pipeline_runs "
                               "ORDER BY run_id DESC LIMIT 1")[0]
    assert failed[:2] == ("failed", "validate") and "customer_id" in failed[2]
    assert scalar(clean_db, "SELECT count(*) FROM segmentation.models WHERE status = 'active'") == 1


def test_reference_recipe_models_all_customers_with_four_segments(clean_db, sample_path, run_flow):
    load_customers_file(clean_db, sample_path)
    summary = run_flow(mode="retrain", recipe="reference-rfmlc")
    assert summary["run"]["rows_published"] == 2240
    assert sorted(p["tier"] for p in summary["profiles"]) == ["Bronze", "Gold", "Platinum", "Silver"]
    names = [p["segment_name"] for p in summary["profiles"]]
    assert len(set(names)) == 4


def test_invalid_parameters_are_refused_before_any_work(clean_db, run_flow):
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="k_min"):
        RunParameters(k_min=8, k_max=3)
    with pytest.raises(SegmentsError, match="recipe 'no-such-recipe' not found"):
        run_flow(recipe="no-such-recipe")
    assert scalar(clean_db, "SELECT count(*) FROM segmentation.pipeline_runs") == 0


def test_a_run_on_orders_publishes_every_customer_with_a_segment_a_tier_rfm_and_value(cdnow_orders, run_flow):
    clean_db = cdnow_orders

    summary = run_flow(mode="retrain", recipe="rfm-orders")

    run = summary["run"]
    assert (run["status"], run["rows_extracted"], run["rows_published"]) == ("succeeded", 2357, 2357)
    as_of = date(1998, 6, 30)  # the latest purchase day
    assert str(run["as_of"]) == as_of.isoformat()
    incomplete = scalar(clean_db, "SELECT count(*) FROM segmentation.customer_segments WHERE segment_name IS NULL "
                                  "OR tier NOT IN ('Platinum', 'Gold', 'Silver', 'Bronze') OR monetary IS NULL "
                                  "OR spend_per_purchase IS NULL")
    assert incomplete == 0
    assert sa_rows(clean_db, "SELECT count(*), count(DISTINCT run_id), min(as_of), sum(purchase_days) "
                             "FROM segmentation.customer_rfm") == [(2357, 1, as_of, 6696)]
    # Profiles have no campaign or demographic means on an orders source, and the GMV is the orders' spend.
    profiles = sa_rows(clean_db, "SELECT customers, response_rate, mean_age, gmv_total FROM "
                                 "segmentation.segment_profiles WHERE run_id = :r", r=run["run_id"])
    assert sum(p[0] for p in profiles) == 2357 and {p[1:3] for p in profiles} == {(None, None)}
    assert sum(p[3] for p in profiles) == pytest.approx(float(scalar(clean_db, "SELECT sum(amount) FROM source.orders")))
    # Every customer's predicted next year, from the value models the run stored (BG/NBD, Gamma-Gamma).
    assert sa_rows(clean_db, "SELECT count(*) FROM segmentation.campaign_audience WHERE p_alive BETWEEN 0 AND 1 "
                             "AND expected_purchases_365d >= 0 AND expected_value_365d >= 0") == [(2357,)]
    assert sa_rows(clean_db, "SELECT count(*) FROM segmentation.value_models WHERE run_id = :r AND "
                             "bgnbd_r > 0 AND gamma_gamma_q > 1 AND holdout ? 'mean_absolute_error'",
                   r=run["run_id"]) == [(1,)]
    potential = sa_rows(clean_db, "SELECT sum(expected_value_365d) FROM segmentation.segment_profiles "
                                  "WHERE run_id = :r", r=run["run_id"])[0][0]
    assert potential == pytest.approx(float(scalar(clean_db, "SELECT sum(expected_value_365d) FROM "
                                                             "segmentation.customer_segments")))
    # The report leaves out, saying so, what an orders source does not have.
    from tasks.report.html import report_path
    from tasks.settings import get_settings

    report = report_path(get_settings().state_dir, run["run_id"]).read_text()
    assert "Not available for an orders source" in report and "not in an orders source" in report
    assert "Potential GMV" in report and "Held out: fitted on the orders up to" in report

    # The next night: one new order; the rollup follows it alone, and the published RFM with it.
    with clean_db.begin() as connection:
        connection.execute(sa.text("INSERT INTO source.orders (customer_id, ordered_at, amount) "
                                   "VALUES (3, '1998-07-01 10:00+00', 40)"))
    second = run_flow(mode="auto", recipe="rfm-orders")
    assert second["run"]["mode"] == "reassign" and second["run"]["rows_published"] == 2357
    assert sa_rows(clean_db, "SELECT purchase_days, recency_days, as_of FROM segmentation.customer_rfm "
                             "WHERE customer_id = 3") == [(2, 0, date(1998, 7, 1))]
    assert scalar(clean_db, "SELECT orders_read FROM segmentation_work.order_rollup_state") == 1
