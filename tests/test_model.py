"""Recipes, model selection, the registry as data, retrain-or-reassign and stable named segments."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from tasks.model import registry
from tasks.errors import ConfigurationError
from tasks.extract.customers import SourceMapping, extract_customers
from tasks.features.compute import compute_features, read_features
from tasks.load.customers_file import load_customers_file
from tasks.model.kmeans import feature_baseline, fit_kmeans, population_stability_index, training_rows
from tasks.features.recipes import load_recipe, parse_recipe
from tasks.pipeline.record import start_run
from tasks.model.segments import TIERS, assign_tiers, match_clusters
from tasks.model.train import RetrainPolicy, decide_mode, reassign, train_model

AS_OF = date(2014, 6, 30)


def sample_features(engine, path) -> pd.DataFrame:
    load_customers_file(engine, path)
    run_id = start_run(engine, mode_requested="auto", recipe_name="reference-rfmlc", parameters={}, flow_run_id=None)
    extract_customers(engine, SourceMapping(), today=AS_OF)
    compute_features(engine, load_recipe("reference-rfmlc"), as_of=AS_OF, snapshot_date=AS_OF, run_id=run_id)
    return read_features(engine)


@pytest.fixture
def features(clean_db, sample_path) -> pd.DataFrame:
    return sample_features(clean_db, sample_path)


def store(engine, assignment, run_id: int = 1) -> registry.StoredModel:
    with engine.begin() as connection:
        version = registry.insert_candidate(connection, assignment.model, run_id)
        registry.activate(connection, version)
    with engine.connect() as connection:
        return registry.read_model(connection, version)


# -- recipes ---------------------------------------------------------------------------------------------
def test_shipped_recipes_parse():
    reference = load_recipe("reference-rfmlc")
    assert reference.feature_names == ["recency_days", "frequency", "monetary", "tenure_days", "age"]
    assert (reference.k, reference.scaler, reference.random_state, reference.n_init) == (4, "minmax", 0, 10)
    assert load_recipe("default").k_candidates() == list(range(2, 11))


@pytest.mark.parametrize(("change", "message"), [
    ({"features": [{"name": "shoe_size"}]}, "features.0.name: Value error, unknown feature 'shoe_size'"),
    ({"capping": {"method": "percentile", "lower_quantile": 0.9, "upper_quantile": 0.1}},
     "capping: Value error, lower_quantile \\(0.9\\) must be below upper_quantile"),
    ({"capping": {"method": "iqr", "lower_quantile": 1.5}}, "capping.lower_quantile: Input should be less than"),
    ({"k": {"min": 8, "max": 3}}, "k range min \\(8\\) is above max \\(3\\)"),
    ({"scaler": "robust"}, "scaler: Input should be 'minmax' or 'standard'"),
    ({"colour": "blue"}, "colour: Extra inputs are not permitted"),
])
def test_invalid_recipes_are_rejected_with_the_reason(change, message):
    document = load_recipe("default").model_dump(mode="json") | change
    with pytest.raises(ConfigurationError, match=f"recipe <recipe> is invalid: .*{message}"):
        parse_recipe(document)


# -- registry and assignment -----------------------------------------------------------------------------
def test_reassign_with_the_stored_model_equals_the_fitted_model(clean_db, features):
    recipe = load_recipe("reference-rfmlc")
    assignment = train_model(features, recipe, as_of=AS_OF, previous=None, next_segment_id=1)
    stored = store(clean_db, assignment)

    points = stored.preprocessing.transform(features)
    fitted = fit_kmeans(training_rows(points, recipe), 4, recipe)
    reassigned = reassign(features, stored)

    assert len(features) == 2240
    assert np.array_equal(reassigned.labels, fitted.predict(points))
    assert np.array_equal(reassigned.labels, assignment.labels)
    assert np.allclose(stored.centroids, fitted.cluster_centers_)


def test_reference_recipe_preprocessing_is_stored_as_data(clean_db, features):
    assignment = train_model(features, load_recipe("reference-rfmlc"), as_of=AS_OF, previous=None, next_segment_id=1)
    stored = store(clean_db, assignment)
    monetary = next(f for f in stored.preprocessing.features if f.name == "monetary")
    known = features["monetary"]
    assert monetary.transform == "log"
    assert (monetary.cap_low, monetary.cap_high) == pytest.approx(tuple(np.quantile(known, [0.01, 0.99])))
    assert monetary.offset == pytest.approx(np.log(monetary.cap_low))  # MinMax: offset = min after capping
    assert stored.training_rows == 2240 and len(stored.training_fingerprint) == 64
    assert stored.metrics["selection"]["chosen_k"] == 4


def test_retrain_on_the_same_data_keeps_ids_names_and_tiers(clean_db, features):
    recipe = load_recipe("reference-rfmlc")
    first = train_model(features, recipe, as_of=AS_OF, previous=None, next_segment_id=1)
    stored = store(clean_db, first)
    second = train_model(features, recipe, as_of=AS_OF, previous=stored, next_segment_id=5)

    def per_customer(assignment) -> list[tuple]:
        labels = {label.cluster_index: label for label in assignment.model.segments}
        return [(labels[c].segment_id, labels[c].segment_name, labels[c].tier) for c in assignment.labels]

    assert per_customer(second) == per_customer(first)
    assert {label.segment_id for label in second.model.segments} == {1, 2, 3, 4}


def test_clusters_are_matched_to_the_previous_model_whatever_their_order():
    previous = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    current = np.array([[0.2, 9.7], [0.1, -0.3], [9.9, 0.4], [50.0, 50.0]])  # permuted, plus a new cluster
    assert match_clusters(previous, current) == {0: 2, 1: 0, 2: 1}
    assert match_clusters(previous, current, max_distance=0.35) == {1: 0}


def test_physical_row_order_does_not_change_the_assignment(clean_db, sample_path, tmp_path, features):
    recipe = load_recipe("reference-rfmlc")
    original = train_model(features, recipe, as_of=AS_OF, previous=None, next_segment_id=1)
    shuffled_file = tmp_path / "shuffled.csv"
    frame = pd.read_csv(sample_path, dtype=str, keep_default_na=False)
    frame.sample(frac=1, random_state=3).to_csv(shuffled_file, index=False)
    reshuffled = sample_features(clean_db, shuffled_file)
    again = train_model(reshuffled, recipe, as_of=AS_OF, previous=None, next_segment_id=1)
    assert reshuffled["customer_id"].tolist() == features["customer_id"].tolist()
    names = lambda a: [a.model.label_for(c).segment_name for c in a.labels]  # noqa: E731
    assert names(again) == names(original)


def test_names_are_unique_and_tiers_ranked_by_annual_value(clean_db, features):
    assignment = train_model(features, load_recipe("reference-rfmlc"), as_of=AS_OF, previous=None, next_segment_id=1)
    segments = assignment.model.segments
    assert len({s.segment_name for s in segments}) == len(segments) == 4
    value = features.groupby(assignment.labels)["monetary"].mean()
    by_value = [assignment.model.label_for(c).tier for c in value.sort_values(ascending=False).index]
    assert by_value == list(TIERS)


@pytest.mark.parametrize(("values", "expected"), [
    ([5.0, 1.0], ["Platinum", "Gold"]),
    ([1.0, 4.0, 3.0, 2.0], ["Bronze", "Platinum", "Gold", "Silver"]),
    ([8.0, 7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0], ["Platinum", "Platinum", "Gold", "Gold", "Silver", "Silver",
                                                  "Bronze", "Bronze"]),
])
def test_tiers_use_top_tiers_or_rank_bands(values, expected):
    tiers = assign_tiers(pd.Series(values, index=range(len(values))))
    assert [tiers[i] for i in range(len(values))] == expected


# -- drift and the auto decision -----------------------------------------------------------------------
def test_psi_is_small_for_the_same_distribution_and_large_for_a_shift():
    rng = np.random.default_rng(0)
    baseline = feature_baseline(pd.DataFrame({"x": rng.normal(0, 1, 20_000)}), ["x"])["x"]
    assert population_stability_index(baseline, rng.normal(0, 1, 20_000)) < 0.02
    assert population_stability_index(baseline, rng.normal(0.5, 1, 20_000)) > 0.2


def test_each_auto_trigger(clean_db, features):
    recipe = load_recipe("reference-rfmlc")
    policy = RetrainPolicy(max_model_age_days=30, psi_threshold=0.2, silhouette_floor=0.1)
    assert decide_mode("auto", None, features, recipe, AS_OF, policy).reasons == ["no active model"]
    active = store(clean_db, train_model(features, recipe, as_of=AS_OF, previous=None, next_segment_id=1))

    current = decide_mode("auto", active, features, recipe, AS_OF, policy)
    assert current.mode == "reassign"

    old = decide_mode("auto", active, features, recipe, AS_OF + timedelta(days=31), policy)
    assert old.mode == "retrain" and "31 days old" in old.reasons[0]

    drifted = features.assign(recency_days=features["recency_days"] + 60)
    drift = decide_mode("auto", active, drifted, recipe, AS_OF, policy)
    assert drift.mode == "retrain" and drift.reasons[0].startswith("recency_days drifted: PSI")

    strict = RetrainPolicy(max_model_age_days=30, psi_threshold=0.2, silhouette_floor=0.9)
    weak = decide_mode("auto", active, features, recipe, AS_OF, strict)
    assert weak.mode == "retrain" and "below the floor 0.9" in weak.reasons[0]

    changed = decide_mode("auto", active, features, load_recipe("default"), AS_OF, policy)
    assert changed.mode == "retrain" and "recipe changed" in changed.reasons[0]

    assert decide_mode("reassign", active, drifted, recipe, AS_OF, policy).mode == "reassign"
    assert decide_mode("retrain", active, features, recipe, AS_OF, policy).mode == "retrain"


def test_default_recipe_selects_k_by_elbow_and_silhouette(clean_db, features):
    assignment = train_model(features, load_recipe("default"), as_of=AS_OF, previous=None, next_segment_id=1)
    selection = assignment.model.metrics["selection"]
    assert [row["k"] for row in selection["per_k"]] == list(range(2, 11))
    assert selection["chosen_k"] == len(assignment.model.segments)
    assert any("elbow" in reason for reason in selection["reasons"])
    assert all(row["stability_ari"] is not None for row in selection["per_k"])


def test_tiers_by_expected_value_rank_segments_by_their_predicted_next_year(cdnow_orders):
    """With tiers_by: expected_value, a run on orders tiers its new model's segments by their customers' mean
    expected value over the next 365 days (Platinum the highest), stored with the model and published; the
    option is refused for a customer-profile recipe, and a change of it retrains."""
    import sqlalchemy as sa

    from tasks.pipeline.stages import RunInputs, run_pipeline

    recipe = parse_recipe({**load_recipe("rfm-orders").model_dump(mode="json"), "tiers_by": "expected_value"})
    run_id = run_pipeline(cdnow_orders, RunInputs(recipe=recipe, mode="retrain", validation=None)).run_id

    with cdnow_orders.connect() as connection:
        segments = pd.DataFrame(connection.execute(sa.text(
            "SELECT c.segment_id, m.tier AS stored_tier, min(c.tier) AS tier, count(DISTINCT c.tier) AS tiers, "
            "avg(c.expected_value_365d) AS expected_value, avg(c.monetary) AS spend "
            "FROM segmentation.customer_segments AS c JOIN segmentation.model_segments AS m "
            "ON m.model_version = c.model_version AND m.segment_id = c.segment_id WHERE c.run_id = :r "
            "GROUP BY c.segment_id, m.tier"), {"r": run_id}).mappings().all()).astype(
            {"expected_value": float, "spend": float})
    assert (segments["tiers"] == 1).all() and (segments["tier"] == segments["stored_tier"]).all()
    by_value = segments.sort_values("expected_value", ascending=False)
    assert by_value["tier"].iloc[0] == "Platinum"
    ranks = by_value["tier"].map(TIERS.index).tolist()
    assert ranks == sorted(ranks)  # a lower expected value never has a higher tier

    with cdnow_orders.connect() as connection:
        active = registry.read_active_model(connection)
    assert decide_mode("auto", active, pd.DataFrame(), load_recipe("rfm-orders"), active.as_of,
                       RetrainPolicy()).reasons == ["tiers by changed (expected_value -> spend)"]
    with pytest.raises(ConfigurationError, match="tiers_by: expected_value needs source: orders"):
        parse_recipe({**load_recipe("default").model_dump(mode="json"), "tiers_by": "expected_value"})

    # Expected value, not past spend, decides: the lowest spenders made the most valuable become Platinum.
    from tasks.model.value_tiers import tier_by_expected_value

    lowest = segments.sort_values("spend")["segment_id"].iloc[0]
    with cdnow_orders.begin() as connection:
        connection.execute(sa.text(
            "UPDATE segmentation_work.customer_value AS v SET expected_value_365d = 1000000 "
            "FROM segmentation.customer_segments AS c WHERE c.customer_id = v.customer_id AND c.segment_id = :s"),
            {"s": int(lowest)})
        sample = connection.execute(sa.text(
            "SELECT c.customer_id, m.cluster_index FROM segmentation.customer_segments AS c "
            "JOIN segmentation.model_segments AS m USING (model_version, segment_id)")).all()
    tier_by_expected_value(cdnow_orders, active, np.array([row[0] for row in sample]),
                           np.array([row[1] for row in sample]))
    with cdnow_orders.connect() as connection:
        assert connection.scalar(sa.text(
            "SELECT segment_id FROM segmentation.model_segments WHERE model_version = :v AND tier = 'Platinum'"),
            {"v": active.model_version}) == lowest
    assert next(label for label in active.segments if label.segment_id == lowest).tier == "Platinum"
