"""The insight report: conversion and mix tables against hand-computed values, the statistics behind its
pictures against scikit-learn's and numpy's, the HTML it writes, and how it renders."""

from __future__ import annotations

import hashlib
import math
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from tasks.report.bands import bands_of, load_bands
from tasks.errors import ConfigurationError, SegmentsError
from tasks.report.insights import (compute_conversion_by_band, principal_components, read_conversion,
                                   read_customer_sample, read_mix, read_movements, silhouette_values, total_by_band)
from tasks.settings import PROJECT_ROOT
from tests.browser import ensure_chromium, screenshot

Z95 = 1.959963984540054
# The report's charts, in page order: overview, distributions, category/channel mix, 5 conversion charts (one
# per dimension), elbow and silhouette by k, silhouette per segment, PCA.
CHARTS = ["customers and GMV per segment", "income, age and spend by segment",
          "spend per product category and channel mix by segment",
          *(f"response rate and conversion by {title}" for title in
            ("segment", "income", "spending (two years)", "age", "children at home")),
          "elbow curve and silhouette by k", "silhouette per customer by segment",
          "PCA scatter of customers coloured by segment"]
SCREENSHOTS = Path(os.environ.get("SEGMENTS_TEST_ARTIFACTS", PROJECT_ROOT / ".state" / "test-artifacts"))


def absent(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def wilson(successes: int, trials: int) -> tuple[float, float]:
    """The Wilson score interval, written out as in the textbooks (independently of the SQL function)."""
    p, n, z = successes / trials, trials, Z95
    centre = p + z * z / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (centre - spread) / (1 + z * z / n), (centre + spread) / (1 + z * z / n)


# -- a crafted run: seven customers whose bands and rates are worked out by hand ----------------------------
# id, segment (id, name, tier), income, monetary (spend), age, children, web visits, purchases, response
CRAFTED = [
    (1, 1, "Big Spenders", "Platinum", 5_000_000, 2_600_000, 25, 0, 5, 20, 1),
    (2, 1, "Big Spenders", "Platinum", 15_000_000, 2_000_000, 35, 1, 0, 10, 1),
    (3, 1, "Big Spenders", "Platinum", 15_000_000, 600_000, 39, 1, 4, 8, 0),
    (4, 2, "Bargain Hunters", "Bronze", 120_000_000, 100_000, 81, 3, 2, 6, 1),
    (5, 2, "Bargain Hunters", "Bronze", None, 499_999, 17, 4, 10, 5, 0),
    (6, 2, "Bargain Hunters", "Bronze", 100_000_000, 500_000, 80, 2, 0, 3, 0),
    (7, 2, "Bargain Hunters", "Bronze", 99_999_999, 0, 45, 0, 8, 2, 1),
]


def insert_run(connection: sa.Connection, status: str = "succeeded") -> int:
    return connection.scalar(sa.text(
        "INSERT INTO segmentation.pipeline_runs (status, mode_requested, mode, recipe_name, parameters, "
        "rows_published) VALUES (:status, 'retrain', 'retrain', 'default', '{}', 7) RETURNING run_id"),
        {"status": status})


def insert_crafted_customers(connection: sa.Connection, run_id: int) -> None:
    connection.execute(sa.text(
        "INSERT INTO segmentation.customer_segments (customer_id, segment_id, segment_name, tier, recommended_action, "
        "model_version, run_id, assigned_at, recency_days, frequency, monetary, tenure_days, campaign_acceptances, "
        "age, income, children_home, web_visits_month, conversion_rate, spend_per_purchase, response, "
        "distance_to_centroid) VALUES (:customer_id, :segment_id, :segment_name, :tier, 'act', 1, :run_id, now(), "
        "10, :frequency, :monetary, 100, :response, :age, :income, :children, :visits, 0, 0, :response, 0.5)"),
        [{"customer_id": c, "segment_id": s, "segment_name": name, "tier": tier, "income": income, "monetary": spend,
          "age": age, "children": children, "visits": visits, "frequency": purchases, "response": response,
          "run_id": run_id}
         for c, s, name, tier, income, spend, age, children, visits, purchases, response in CRAFTED])


@pytest.fixture
def crafted_run(clean_db) -> int:
    with clean_db.begin() as connection:
        run_id = insert_run(connection)
        insert_crafted_customers(connection, run_id)
        total_by_band(connection, run_id, load_bands())
        compute_conversion_by_band(connection, run_id, load_bands(), currency="IDR")
    return run_id


def bands_table(engine, run_id: int, dimension: str) -> dict[str, dict]:
    with engine.connect() as connection:
        rows = read_conversion(connection, run_id)
    return {row["band_label"]: row for row in rows[rows["dimension"] == dimension].to_dict("records")}


def test_income_bands_match_hand_computed_values(clean_db, crafted_run):
    income = bands_table(clean_db, crafted_run, "income")
    # Bands [0, 10M), [10M, 20M) ... [90M, 100M), 100M+ are all listed, empty ones too; "unknown" only because
    # customer 5 has no income; there is no band below 0 (nobody is there).
    assert list(income) == ["IDR 0–10M", "IDR 10M–20M", "IDR 20M–30M", "IDR 30M–40M", "IDR 40M–50M",
                            "IDR 50M–60M", "IDR 60M–70M", "IDR 70M–80M", "IDR 80M–90M", "IDR 90M–100M",
                            "IDR 100M+", "unknown"]
    assert [income[label]["band_order"] for label in income] == list(range(1, 13))
    assert (income["IDR 10M–20M"]["lower"], income["IDR 10M–20M"]["upper"]) == (10_000_000, 20_000_000)
    assert income["IDR 100M+"]["lower"] == 100_000_000 and absent(income["IDR 100M+"]["upper"])

    # 10M-20M: customers 2 (responded, no visits) and 3 (did not respond, 4 visits, 8 purchases).
    band = income["IDR 10M–20M"]
    assert (band["customers"], band["responders"], band["zero_visit_customers"]) == (2, 1, 1)
    assert band["response_rate"] == pytest.approx(0.5)
    assert (band["ci_low"], band["ci_high"]) == pytest.approx(wilson(1, 2))
    assert (band["ci_low"], band["ci_high"]) == pytest.approx((0.0945, 0.9055), abs=1e-4)  # published value
    assert band["mean_conversion"] == pytest.approx(0 / 4)  # customer 2 has no visits: left out
    assert band["purchases_per_visit"] == pytest.approx(8 / 4)

    # 100M+: customer 6 sits exactly on the bound (bands include their lower bound) and customer 4 above it.
    band = income["IDR 100M+"]
    assert (band["customers"], band["responders"], band["zero_visit_customers"]) == (2, 1, 1)
    assert band["mean_conversion"] == pytest.approx(1 / 2)
    assert band["purchases_per_visit"] == pytest.approx(6 / 2)

    # 99,999,999 is still in 90M-100M; one customer who responded: rate 1, interval (z²/(1+z²)-complement, 1).
    band = income["IDR 90M–100M"]
    assert (band["customers"], band["responders"], band["response_rate"]) == (1, 1, 1.0)
    assert band["ci_low"] == pytest.approx(1 / (1 + Z95 ** 2))
    assert band["ci_high"] == pytest.approx(1.0)
    assert band["mean_conversion"] == pytest.approx(1 / 8) and band["purchases_per_visit"] == pytest.approx(2 / 8)

    unknown = income["unknown"]
    assert (unknown["customers"], unknown["responders"]) == (1, 0)
    assert absent(unknown["lower"]) and absent(unknown["upper"])
    assert (unknown["ci_low"], unknown["ci_high"]) == pytest.approx((0.0, Z95 ** 2 / (1 + Z95 ** 2)))

    empty = income["IDR 50M–60M"]
    assert (empty["customers"], empty["responders"], empty["zero_visit_customers"]) == (0, 0, 0)
    assert all(absent(empty[column]) for column in
               ("response_rate", "ci_low", "ci_high", "mean_conversion", "purchases_per_visit"))


def test_spending_age_children_and_segment_bands(clean_db, crafted_run):
    spending = bands_table(clean_db, crafted_run, "spending")
    assert list(spending) == ["IDR 0–500K", "IDR 500K–1M", "IDR 1M–1.5M", "IDR 1.5M–2M", "IDR 2M–2.5M", "IDR 2.5M+"]
    low = spending["IDR 0–500K"]  # customers 4 (100K), 5 (499,999) and 7 (0)
    assert (low["customers"], low["responders"], low["zero_visit_customers"]) == (3, 2, 0)
    assert low["response_rate"] == pytest.approx(2 / 3)
    assert (low["ci_low"], low["ci_high"]) == pytest.approx(wilson(2, 3))
    assert low["mean_conversion"] == pytest.approx((1 / 2 + 0 / 10 + 1 / 8) / 3)
    assert low["purchases_per_visit"] == pytest.approx((6 + 5 + 2) / (2 + 10 + 8))
    assert [spending[label]["customers"] for label in spending] == [3, 2, 0, 0, 1, 1]

    age = bands_table(clean_db, crafted_run, "age")
    # Customer 5 (17) gets the open band below the first bound; 80 and 81 are in 80+.
    assert list(age) == ["under 20", "20–29", "30–39", "40–49", "50–59", "60–69", "70–79", "80+"]
    assert [age[label]["customers"] for label in age] == [1, 1, 2, 1, 0, 0, 0, 2]
    assert age["under 20"]["band_order"] == 0 and age["under 20"]["upper"] == 20

    children = bands_table(clean_db, crafted_run, "children")
    assert list(children) == ["0", "1", "2", "3+"]
    none = children["0"]  # customers 1 and 7, both responded
    assert (none["customers"], none["responders"]) == (2, 2)
    assert (none["ci_low"], none["ci_high"]) == pytest.approx(wilson(2, 2))
    assert none["ci_low"] == pytest.approx(1 / (1 + Z95 ** 2 / 2))
    assert none["mean_conversion"] == pytest.approx((1 / 5 + 1 / 8) / 2)
    assert none["purchases_per_visit"] == pytest.approx((20 + 2) / (5 + 8))
    assert children["3+"]["customers"] == 2  # 3 and 4 children

    segments = bands_table(clean_db, crafted_run, "segment")
    assert list(segments) == ["Big Spenders", "Bargain Hunters"]  # Platinum before Bronze
    big, bargain = segments["Big Spenders"], segments["Bargain Hunters"]
    assert (big["customers"], big["responders"], big["zero_visit_customers"]) == (3, 2, 1)
    assert big["mean_conversion"] == pytest.approx((1 / 5 + 0 / 4) / 2)
    assert big["purchases_per_visit"] == pytest.approx((20 + 8) / (5 + 4))
    assert (bargain["customers"], bargain["responders"], bargain["zero_visit_customers"]) == (4, 2, 1)
    assert bargain["mean_conversion"] == pytest.approx((1 / 2 + 0 / 10 + 1 / 8) / 3)
    assert (bargain["ci_low"], bargain["ci_high"]) == pytest.approx(wilson(2, 4))
    # Every dimension covers every customer exactly once.
    with clean_db.connect() as connection:
        totals = dict(connection.execute(sa.text(
            "SELECT dimension, sum(customers) FROM segmentation.conversion_by_band WHERE run_id = :r GROUP BY 1"),
            {"r": crafted_run}).all())
    assert totals == {"income": 7, "spending": 7, "age": 7, "children": 7, "segment": 7}


def test_recomputing_replaces_the_runs_rows(clean_db, crafted_run):
    with clean_db.begin() as connection:
        before = connection.scalar(sa.text("SELECT count(*) FROM segmentation.conversion_by_band"))
        total_by_band(connection, crafted_run, load_bands())
        compute_conversion_by_band(connection, crafted_run, load_bands(), currency="IDR")
        after = connection.scalar(sa.text("SELECT count(*) FROM segmentation.conversion_by_band"))
    assert before == after == 12 + 6 + 8 + 4 + 2


def test_mix_comes_from_the_runs_extract_then_from_the_source(clean_db, crafted_run):
    """Category and channel columns are not published: while no run has started since, the run's extract has
    them; afterwards it may hold a later snapshot, and source.customers has them (each customer once)."""
    with clean_db.begin() as connection:
        connection.execute(sa.text(
            "INSERT INTO segmentation_work.customers_extract (customer_id, spend_wines, spend_meat, purchases_web, "
            "purchases_store) VALUES (:customer, :wines, 5, :customer, 1)"),
            [{"customer": c, "wines": None if c == 3 else 10 * c} for c in range(1, 8)])
        connection.execute(sa.text(
            "INSERT INTO source.customers (customer_id, spend_wines, spend_meat, purchases_web, purchases_store) "
            "VALUES (:customer, :wines, 0, 0, :customer)"),
            [{"customer": c, "wines": 1000 * c} for c in (*range(1, 8), 4)])  # customer 4 twice

    def mix():
        with clean_db.connect() as connection:
            return read_mix(connection, crafted_run).set_index("segment_id")

    own = mix()
    assert own.loc[1, "spend_wines"] == pytest.approx((10 + 20) / 2)  # customer 3's is unknown, as for avg()
    assert own.loc[2, "spend_wines"] == pytest.approx((40 + 50 + 60 + 70) / 4)
    assert (own.loc[1, "spend_meat"], own.loc[2, "spend_meat"]) == (5, 5)
    assert own["purchases_web"].tolist() == [1 + 2 + 3, 4 + 5 + 6 + 7] and own["purchases_store"].tolist() == [3, 4]
    assert own["customers"].tolist() == own["customers_with_detail"].tolist() == [3, 4]
    assert own["spend_fish"].isna().all()  # no customer has a value

    with clean_db.begin() as connection:
        insert_run(connection)
    later = mix()
    assert later.loc[1, "spend_wines"] == pytest.approx((1000 + 2000 + 3000) / 3)
    assert later.loc[2, "spend_wines"] == pytest.approx((4000 + 5000 + 6000 + 7000) / 4)
    assert later["purchases_store"].tolist() == [1 + 2 + 3, 4 + 5 + 6 + 7]
    assert later["customers_with_detail"].tolist() == [3, 4]


def test_silhouettes_and_principal_components_match_scikit_learns():
    from sklearn.decomposition import PCA
    from sklearn.metrics import silhouette_samples

    generator = np.random.default_rng(7)
    points = np.vstack([*(generator.normal(centre, 1.0, size=(size, 4)) for centre, size in
                          ((0.0, 400), (3.0, 150), (-2.0, 40))), np.full((1, 4), 9.0)])
    labels = np.array([5] * 400 + [2] * 150 + [9] * 40 + [4])  # a customer alone in a segment scores 0
    assert np.allclose(silhouette_values(points, labels), silhouette_samples(points, labels), rtol=0, atol=1e-9)
    centre, axes, explained = principal_components(points)
    pca = PCA(n_components=2).fit(points)
    assert np.allclose(centre, pca.mean_) and np.allclose(explained, pca.explained_variance_ratio_)
    assert np.allclose(axes, pca.components_)  # signed alike: each axis's largest loading positive


def test_the_report_loads_no_plotting_or_learning_library():
    """The report ends every run: a reassign, which loads neither, should not load them for its report."""
    code = ("import sys, tasks.report.html, tasks.report.insights; "
            "print(sorted({name.split('.')[0] for name in sys.modules} & {'matplotlib', 'sklearn'}))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            cwd=PROJECT_ROOT).stdout.strip()
    assert loaded == "[]"


def test_bands_file_is_validated_with_its_name(tmp_path):
    bad = tmp_path / "bands.yaml"
    bad.write_text("income:\n  column: salary\n  start: 0\n  step: 10\n  open_above: 100\n")
    with pytest.raises(ConfigurationError, match=r"bands\.yaml: income\.column"):
        load_bands(bad)
    bad.write_text("age:\n  column: age\n  bounds: [30, 20]\n")
    with pytest.raises(ConfigurationError, match="ascending"):
        load_bands(bad)
    with pytest.raises(ConfigurationError, match="not found"):
        load_bands(tmp_path / "missing.yaml")
    custom = tmp_path / "custom.yaml"
    custom.write_text("visits:\n  column: web_visits_month\n  bounds: [0, 5, 10]\n")
    bands, unknown_order = bands_of(load_bands(custom).dimensions["visits"])
    assert [band.label for band in bands] == ["under 0", "0–4", "5–9", "10+", "unknown"] and unknown_order == 4


def test_movements_compare_with_the_previous_run(clean_db):
    with clean_db.begin() as connection:
        first, second = insert_run(connection), insert_run(connection)
        profile = ("INSERT INTO segmentation.segment_profiles (run_id, model_version, segment_id, segment_name, tier, "
                   "customers, share, mean_recency_days, mean_frequency, mean_monetary, mean_tenure_days, "
                   "mean_campaign_acceptances, mean_income, mean_age, gmv_total, gmv_annual, gmv_annual_per_customer, "
                   "response_rate, conversion_rate, recommended_action) VALUES (:run, 1, :segment, :name, :tier, "
                   ":customers, 0.5, 1, 1, 1, 1, 1, 1, 1, 1, 1, :value, 0.1, 0.1, 'act')")
        connection.execute(sa.text(profile), [
            {"run": first, "segment": 1, "name": "Big Spenders", "tier": "Gold", "customers": 40, "value": 9},
            {"run": first, "segment": 2, "name": "Bargain Hunters", "tier": "Bronze", "customers": 60, "value": 1},
            {"run": second, "segment": 1, "name": "Big Spenders", "tier": "Platinum", "customers": 45, "value": 9},
            {"run": second, "segment": 3, "name": "Newcomers", "tier": "Silver", "customers": 55, "value": 2}])
        first_movements = read_movements(connection, first)
        movements = read_movements(connection, second).set_index("segment_id")
    assert first_movements["previous_customers"].isna().all() and first_movements["customers_delta"].isna().all()
    assert movements.loc[1, ["customers", "previous_customers", "customers_delta"]].tolist() == [45, 40, 5]
    assert (movements.loc[1, "tier"], movements.loc[1, "previous_tier"]) == ("Platinum", "Gold")
    assert movements.loc[3, ["customers", "previous_customers", "customers_delta"]].tolist() == [55, 0, 55]
    assert movements.loc[2, ["customers", "previous_customers", "customers_delta"]].tolist() == [0, 60, -60]
    assert set(movements["previous_run_id"]) == {first}


# -- the report of real runs on the bundled sample ----------------------------------------------------------
@pytest.fixture(scope="module")
def sample_runs(engine) -> Iterator[dict]:
    """Two runs on the bundled sample (retrain, then reassign), under Prefect's test harness."""
    from prefect.testing.utilities import prefect_test_harness

    from flows.nightly import nightly_segmentation
    from tasks.db.server import is_embedded
    from tasks.load.customers_file import load_customers_file
    from tasks.parameters import RunParameters
    from tasks.settings import SAMPLE_DATA, get_settings

    with engine.begin() as connection:  # as clean_db does, once for the module
        tables = connection.execute(sa.text(
            "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables WHERE schemaname = ANY(:schemas) "
            "AND tablename <> 'label_vocabulary'"), {"schemas": ["segmentation", "segmentation_work", "source"]}
        ).scalars().all()
        connection.exec_driver_sql(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
    if not is_embedded(get_settings()):
        load_customers_file(engine, SAMPLE_DATA)
    with prefect_test_harness(server_startup_timeout=300):
        first = nightly_segmentation(parameters=RunParameters(mode="retrain"))
        second = nightly_segmentation(parameters=RunParameters(mode="auto"))
        yield {"first": first["run"]["run_id"], "second": second["run"]["run_id"],
               "state_dir": get_settings().state_dir, "artifacts": _artifact_keys()}


def _artifact_keys() -> dict[str, str]:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return {artifact.key: artifact.data for artifact in client.read_artifacts() if artifact.key}


@dataclass
class Chart:
    label: str
    shapes: int = 0  # bars, boxes, lines, markers, dots
    texts: list[str] = field(default_factory=list)  # tick labels, titles, legends


class ReportParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.sections: list[str] = []
        self.headings: list[str] = []
        self.images: list[dict[str, str]] = []
        self.charts: list[Chart] = []
        self._in_heading = False
        self._chart: Chart | None = None
        self._text: str | None = None

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "section":
            self.sections.append(attributes.get("id", ""))
        elif tag == "img":
            self.images.append(attributes)
        elif tag == "svg":
            assert attributes["class"] == "chart" and attributes["role"] == "img", attributes
            self._chart = Chart(attributes["aria-label"])
            self.charts.append(self._chart)
        elif self._chart is not None and tag in ("rect", "line", "circle", "path", "polygon", "polyline"):
            self._chart.shapes += 1
        elif self._chart is not None and tag == "text":
            self._text = ""
        elif tag == "tspan" and self._text:
            self._text += "\n"
        elif tag in ("h2", "h3"):
            self._in_heading = True
            self.headings.append("")

    def handle_endtag(self, tag):
        if tag in ("h2", "h3"):
            self._in_heading = False
        elif tag == "text" and self._chart is not None:
            self._chart.texts.append(self._text)
            self._text = None
        elif tag == "svg":
            self._chart = None

    def handle_data(self, data):
        if self._in_heading:
            self.headings[-1] += data
        if self._text is not None:
            self._text += data

    def chart(self, label: str) -> Chart:
        return next(chart for chart in self.charts if chart.label == label)


def parse_report(path: Path) -> ReportParser:
    parser = ReportParser()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def test_flow_writes_a_self_contained_report_and_links_it(engine, sample_runs):
    run_id, state_dir = sample_runs["second"], sample_runs["state_dir"]
    path = state_dir / "reports" / f"run-{run_id}.html"
    report = parse_report(path)

    assert report.sections == ["summary", "segments", "conversion", "diagnostics", "methods"]
    for heading in ("Summary", "Segment profiles", "Conversion analysis", "Cluster diagnostics", "By segment",
                    "By income", "By spending (two years)", "By age", "By children at home",
                    "Silhouette per segment", "The segments in two dimensions", "What they buy and where"):
        assert heading in report.headings
    # Every chart is inline SVG, nothing fetched from elsewhere.
    assert [chart.label for chart in report.charts] == CHARTS and report.images == []
    text = path.read_text(encoding="utf-8")
    assert "http://" not in text and "https://" not in text and "<script" not in text
    assert "IDR " in text and "2,213" in text  # currency and thousands separators

    artifacts = sample_runs["artifacts"]
    assert artifacts[f"report-run-{run_id}"] == f"[{path.name}]({path.as_uri()})"  # a link artifact is markdown
    assert "| band | customers |" in artifacts["conversion-by-band"]

    # The second run reassigned the same customers: every segment kept its size.
    with engine.connect() as connection:
        movements = read_movements(connection, run_id)
    assert set(movements["customers_delta"]) == {0} and set(movements["previous_run_id"]) == {sample_runs["first"]}
    assert f"No segment changed size since run {sample_runs['first']}." in text


def squeezed(text: str) -> str:
    """Text without its white space: a label as wrapped on lines (at spaces or hyphens) compares to its source."""
    return "".join(text.split())


def test_charts_draw_the_runs_segments_bands_and_sample(engine, sample_runs):
    run_id = sample_runs["second"]
    report = parse_report(sample_runs["state_dir"] / "reports" / f"run-{run_id}.html")
    with engine.connect() as connection:
        segments = connection.execute(sa.text(
            "SELECT segment_name, customers, share FROM segmentation.segment_profiles WHERE run_id = :run_id"),
            {"run_id": run_id}).all()
        conversion = read_conversion(connection, run_id)
    names = [name for name, _, _ in segments]
    assert all(chart.shapes and chart.texts for chart in report.charts)

    overview = report.chart("customers and GMV per segment")  # each segment's bar, labelled with size and share
    for name, customers, share in segments:
        assert f"{customers:,}\n{share:.0%}" in overview.texts
        assert squeezed(name) in map(squeezed, overview.texts)
    distributions = report.chart("income, age and spend by segment")  # per measure and segment: a box of 7 shapes
    assert distributions.shapes >= 3 * len(segments) * 7
    for dimension, title in (("segment", "segment"), ("income", "income"), ("age", "age")):
        chart = report.chart(f"response rate and conversion by {title}")
        texts = [squeezed(text) for text in chart.texts]
        for row in conversion[conversion["dimension"] == dimension].itertuples():
            assert any(squeezed(row.band_label) in text and f"n={row.customers:,}" in text for text in texts)
    silhouettes = report.chart("silhouette per customer by segment")
    assert "Silhouette per customer, by segment (2,213 sampled of 2,213)" in silhouettes.texts
    assert all(any(text.startswith(f"{name}  (mean ") for text in silhouettes.texts) for name in names)
    scatter = report.chart("PCA scatter of customers coloured by segment")
    assert set(names) <= set(scatter.texts)  # the legend


def test_customer_sample_is_bounded_and_reproducible(engine, sample_runs):
    run_id = sample_runs["second"]
    with engine.connect() as connection:
        everyone = read_customer_sample(connection, run_id, population=2213, size=5000)
        some = read_customer_sample(connection, run_id, population=2213, size=500)
        again = read_customer_sample(connection, run_id, population=2213, size=500)
        published = set(connection.execute(sa.text(
            "SELECT customer_id FROM segmentation.customer_segments WHERE run_id = :run_id"),
            {"run_id": run_id}).scalars())
    assert len(everyone) == len(published) == 2213 and set(everyone["customer_id"]) == published
    # A third of the pages: at most 500 customers, the same ones each time, of every segment.
    assert 250 < len(some) <= 500 and some.equals(again) and set(some["customer_id"]) <= published
    assert some["segment_id"].nunique() == everyone["segment_id"].nunique()
    hashed = [hashlib.md5(str(customer).encode()).hexdigest() for customer in some["customer_id"]]
    assert hashed == sorted(hashed)  # in hash order, so its first rows are a sample too


def test_segments_report_regenerates_latest_and_older_runs(engine, sample_runs):
    from typer.testing import CliRunner

    from flows.cli import app

    runner = CliRunner()
    latest = runner.invoke(app, ["report"])
    assert latest.exit_code == 0, latest.output
    path = Path(latest.output.strip().splitlines()[-1])
    assert path == sample_runs["state_dir"] / "reports" / f"run-{sample_runs['second']}.html"
    assert [chart.label for chart in parse_report(path).charts] == CHARTS

    # Run 1's customers were republished by run 2: its stored tables are reported, per-customer charts are not.
    older = runner.invoke(app, ["report", str(sample_runs["first"])])
    assert older.exit_code == 0, older.output
    older_path = Path(older.output.strip().splitlines()[-1])
    report = parse_report(older_path)
    assert report.sections == ["summary", "segments", "conversion", "diagnostics", "methods"]
    assert [chart.label for chart in report.charts] == [CHARTS[0], *CHARTS[3:9]]  # overview, conversion, k
    assert f"republished by run {sample_runs['second']}" in older_path.read_text(encoding="utf-8")

    missing = runner.invoke(app, ["report", "999"])
    assert missing.exit_code == 1 and "run 999 not found" in missing.output


def test_report_reads_well_in_chromium(sample_runs):
    ensure_chromium()
    page = sample_runs["state_dir"] / "reports" / f"run-{sample_runs['second']}.html"
    shot = screenshot(page, SCREENSHOTS / "report-first-screen.png", width=1400, height=2000)
    from PIL import Image

    with Image.open(shot) as image:
        assert image.size == (1400, 2000)
        # Not a blank page: the rendered report has text, tables and charts in many colours.
        colours = image.convert("RGB").resize((350, 500)).getcolors(maxcolors=1 << 16)
    assert colours is None or len(colours) > 200


def test_report_of_a_failed_run_is_refused(clean_db):
    from tasks.report.html import write_run_report

    with clean_db.begin() as connection:
        run_id = insert_run(connection, status="failed")
    with pytest.raises(SegmentsError, match=f"run {run_id} is failed"):
        write_run_report(clean_db, run_id, Path("/nonexistent"), load_bands())


def test_report_of_a_run_that_published_nothing_says_so(clean_db, tmp_path):
    from tasks.report.html import write_run_report

    with clean_db.begin() as connection:  # e.g. a dry run: succeeded, nothing published, no model stored
        run_id = connection.scalar(sa.text(
            "INSERT INTO segmentation.pipeline_runs (status, mode_requested, mode, recipe_name, parameters, "
            "rows_published) VALUES ('succeeded', 'auto', 'retrain', 'default', '{}', 0) RETURNING run_id"))
    written = write_run_report(clean_db, run_id, tmp_path, load_bands())
    report = parse_report(written.path)
    assert written.path == tmp_path / "reports" / f"run-{run_id}.html"
    assert report.sections == ["summary", "segments", "conversion", "diagnostics", "methods"]
    assert report.charts == []
    assert "This run published no customers" in written.path.read_text(encoding="utf-8")


def test_text_from_data_and_configuration_reaches_the_report_as_text(clean_db, sample_path, tmp_path):
    """Script tags in the mapping's currency (the currency the run's report uses, not the load's) and in segment
    names and actions are escaped wherever they land (amount cells, bands, tables, chart labels)."""
    from tasks.extract.customers import SourceMapping
    from tasks.features.recipes import load_recipe
    from tasks.load.customers_file import load_customers_file
    from tasks.pipeline.stages import RunInputs, run_pipeline
    from tasks.report.html import write_run_report
    from tasks.report.summary import summarise_run

    load_customers_file(clean_db, sample_path)  # a load in IDR
    script = "<script>alert(1)</script>"
    inputs = RunInputs(recipe=load_recipe("default").model_copy(update={"k": 4}), mode="retrain", validation=None,
                       mapping=SourceMapping(currency=script))
    run_id = run_pipeline(clean_db, inputs).run_id
    with clean_db.begin() as connection:
        for table in ("segment_profiles", "customer_segments"):
            connection.execute(sa.text(f"UPDATE segmentation.{table} SET segment_name = :name || segment_id "  # noqa: S608
                                       "WHERE run_id = :run_id"), {"name": f"{script} $\\frac$ ", "run_id": run_id})
        connection.execute(sa.text("UPDATE segmentation.segment_profiles SET recommended_action = :action "
                                   "WHERE run_id = :run_id"), {"action": '<img src=x onerror="alert(2)">',
                                                               "run_id": run_id})

    page = write_run_report(clean_db, run_id, tmp_path, load_bands()).path.read_text(encoding="utf-8")

    assert "<script" not in page and "<img src=x" not in page
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert page.count(f"{escaped} ") >= 4 * 3 + 4  # each segment's three amounts; each segment's name
    assert "&lt;img src=x onerror=&quot;alert(2)&quot;&gt;" in page
    assert f"amounts in {escaped})" in page  # the mapping's currency, though the latest load's is IDR
    report = ReportParser()
    report.feed(page)
    legend = report.chart("PCA scatter of customers coloured by segment").texts
    assert sum(text.startswith(f"{script} $\\frac$ ") for text in legend) == 4  # each name, as it is
    assert summarise_run(clean_db, run_id).currency == script


class TablesParser(HTMLParser):
    """Each <table> of a page as rows of cell texts, keyed by the <h3> heading before it."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._heading: str | None = None
        self._rows: list[list[str]] | None = None
        self._cell: str | None = None
        self._in_heading = False

    def handle_starttag(self, tag, attrs):
        if tag == "h3":
            self._in_heading, self._heading = True, ""
        elif tag == "table":
            self._rows = []
        elif tag == "tr" and self._rows is not None:
            self._rows.append([])
        elif tag in ("td", "th") and self._rows is not None:
            self._cell = ""

    def handle_endtag(self, tag):
        if tag == "h3":
            self._in_heading = False
        elif tag in ("td", "th") and self._cell is not None:
            self._rows[-1].append(self._cell)
            self._cell = None
        elif tag == "table" and self._rows is not None:
            self.tables.setdefault(self._heading or "", self._rows)
            self._rows = None

    def handle_data(self, data):
        if self._in_heading:
            self._heading += data
        if self._cell is not None:
            self._cell += data


def test_an_orders_run_shows_category_and_channel_mix_by_segment_from_its_orders(cdnow_orders, tmp_path):
    """Categories (seven, so the two smallest make 'other'; one with markup) and channels set on CDNOW's orders
    appear per segment as shares of spend and of orders, up to the run's day; with them cleared, the note says
    they are absent."""
    import pandas as pd

    from tasks.features.recipes import load_recipe
    from tasks.pipeline.stages import RunInputs, run_pipeline
    from tasks.report.html import write_run_report

    engine = cdnow_orders
    categories = ["jazz", "rock", "pop", "<b>classical</b>", "folk", "blues", "soul"]
    with engine.begin() as connection:
        connection.execute(sa.text(
            "UPDATE source.orders SET category = (CAST(:categories AS text[]))[1 + customer_id % 7], "
            "channel = CASE WHEN customer_id % 3 = 0 THEN NULL WHEN amount > 30 THEN 'web' ELSE 'store' END"),
            {"categories": categories})
    recipe = load_recipe("rfm-orders")  # recorded as the flow records it: the report reads the run's source there
    run_id = run_pipeline(engine, RunInputs(recipe=recipe, mode="retrain", validation=None, recorded_parameters={
        "effective_recipe": recipe.model_dump(mode="json")})).run_id
    with engine.begin() as connection:  # an order after the run's day, however large, is not in its mix
        connection.execute(sa.text(
            "INSERT INTO source.orders (customer_id, ordered_at, amount, category, channel) "
            "VALUES (1, '1998-07-15 12:00+00', 1000000, 'late', 'late')"))
        orders = pd.DataFrame(connection.execute(sa.text(
            "SELECT s.segment_name, o.amount::float AS amount, o.category, o.channel FROM source.orders AS o "
            "JOIN segmentation.customer_segments AS s USING (customer_id) WHERE s.run_id = :r "
            "AND o.ordered_at < '1998-07-01'"), {"r": run_id}).all())

    page = write_run_report(engine, run_id, tmp_path, load_bands()).path.read_text(encoding="utf-8")
    tables = TablesParser()
    tables.feed(page)

    assert "<b>classical" not in page and "&lt;b&gt;classical&lt;/b&gt;" in page
    top = orders.groupby("category")["amount"].sum().sort_values(ascending=False).index[:5]
    orders["shown"] = orders["category"].where(orders["category"].isin(top), "other")
    spend = orders.groupby(["segment_name", "shown"])["amount"].sum()
    spend_share = spend / spend.groupby(level=0).transform("sum")
    channel_share = orders.groupby("segment_name")["channel"].value_counts(normalize=True)
    for heading, expected in (("Share of each segment's spend by product category", spend_share),
                              ("Share of each segment's orders by channel", channel_share)):
        header, *rows = tables.tables[heading]
        assert "late" not in header and len(rows) == orders["segment_name"].nunique()
        for row in rows:
            for value, cell in zip(header[1:], row[1:], strict=True):
                share = expected.get((row[0], value), 0.0)
                assert abs(float(cell.rstrip("%")) - 100 * share) <= 0.5 + 1e-9, (heading, row[0], value)
    assert set(tables.tables["Share of each segment's spend by product category"][0]) == {"segment", "other", *top}
    assert "source.orders has no category or channel" not in page

    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE source.orders SET category = NULL, channel = NULL"))
    page = write_run_report(engine, run_id, tmp_path, load_bands()).path.read_text(encoding="utf-8")
    assert "Share of each segment" not in page
    assert ("Income and age: not in an orders source, so left out. Spend by product category and channel mix: "
            "source.orders has no category or channel for this run&#x27;s customers, so left out.") in page
