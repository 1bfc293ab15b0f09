"""Publish and what campaign tools read: write-audit-publish seen from a second connection, segment
history, the consumer views, the read-only role, in-database scoring and the documented schema.

The pipeline's stages are called directly (the flow's task bodies without Prefect), on the real
PostgreSQL of the session.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from datetime import date

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tasks.model import registry
from tasks.db.parallel import PARALLEL_PARTS
from tasks.db.dictionary import TABLES_PAGE, read_catalog, tables_page
from tasks.errors import AuditFailedError, ConfigurationError
from tasks.extract.customers import SourceMapping, extract_customers
from tasks.features.compute import compute_features, read_features
from tasks.load.customers_file import load_customers_file
from tasks.db.migrations import MIGRATIONS_DIR, REPEATABLE_OBJECTS
from tasks.model.kmeans import FeaturePreprocessing, Preprocessing
from tasks.publish.write_audit_publish import audit, now_utc, publish, stage
from tasks.features.recipes import Capping, FeatureSpec, Recipe, load_recipe
from tasks.pipeline.record import start_run
from tasks.pipeline.stages import STAGES, RunInputs
from tasks.pipeline.stages import run_pipeline as run_stages
from tasks.model.scoring import scoring_sql
from tasks.model.segments import SPEND_WINDOW_YEARS
from tasks.db.sql import SQL_DIR, driver_connection, drop_retired_tables
from tasks.model.train import reassign

# A fixed k keeps training quick; preprocessing (what scoring must reproduce) does not depend on it.
FOUR_SEGMENTS = load_recipe("default").model_copy(update={"k": 4})


def run_pipeline(engine: Engine, recipe: Recipe = FOUR_SEGMENTS, mode: str = "auto", *,
                 before_audit: Callable[[Engine], None] | None = None,
                 after_step: Callable[[str], None] | None = None) -> int:
    """One run as the flow makes it (tasks.pipeline.stages), without validation, the HTML report and
    Prefect; what it replaces is kept, renamed _retired, for the tests to look at."""
    inputs = RunInputs(recipe=recipe, mode=mode, validation=None, drop_retired_tables=False,
                       before_audit=before_audit, after_publish_step=after_step)
    return run_stages(engine, inputs).run_id


def rows(connection_or_engine, query: str, **params) -> list[tuple]:
    if isinstance(connection_or_engine, Engine):
        with connection_or_engine.connect() as connection:
            return rows(connection, query, **params)
    return [tuple(row) for row in connection_or_engine.execute(sa.text(query), params)]


def scalar(engine: Engine, query: str, **params):
    with engine.connect() as connection:
        return connection.scalar(sa.text(query), params)


def published_state(connection_or_engine) -> dict[str, list[tuple]]:
    """Everything a campaign tool can read after a publish, summarised."""
    queries = {
        "segments": "SELECT run_id, segment_id, tier, count(*) FROM segmentation.customer_segments GROUP BY 1, 2, 3 "
                    "ORDER BY 1, 2, 3",
        "history": "SELECT run_id, closed_by_run_id, count(*) FROM segmentation.segment_history GROUP BY 1, 2 "
                   "ORDER BY 1, 2 NULLS FIRST",
        "profiles": "SELECT run_id, segment_id, customers FROM segmentation.segment_profiles ORDER BY 1, 2",
        "latest_profiles": "SELECT run_id, count(*) FROM segmentation.latest_profiles GROUP BY 1",
        "audience": "SELECT run_id, tier, count(*), count(previous_tier) FROM segmentation.campaign_audience "
                    "GROUP BY 1, 2 ORDER BY 1, 2",
        "movements": "SELECT customer_id, from_tier, to_tier, direction, run_id FROM segmentation.tier_movements "
                     "ORDER BY 1",
        "active_model": "SELECT model_version FROM segmentation.models WHERE status = 'active'",
    }
    return {name: rows(connection_or_engine, query) for name, query in queries.items()}


def give_customer_the_record_of(engine: Engine, customer_id: int, other_id: int) -> None:
    """Make `customer_id`'s source record identical to `other_id`'s (so it lands where the other is)."""
    with engine.begin() as connection:
        columns = connection.execute(sa.text(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'source' "
            "AND table_name = 'customers' AND column_name NOT IN ('customer_id', 'load_id') "
            "AND is_generated = 'NEVER'")).scalars().all()
        assignments = ", ".join(f"{column} = other.{column}" for column in columns)
        connection.execute(sa.text(
            f"UPDATE source.customers AS c SET {assignments} FROM source.customers AS other "  # noqa: S608
            "WHERE c.customer_id = :customer_id AND other.customer_id = :other_id"),
            {"customer_id": customer_id, "other_id": other_id})


def customer_in_another_tier(engine: Engine) -> tuple[int, str, int, str]:
    """A (customer, tier) pair and a customer of a different tier."""
    return rows(engine, "SELECT a.customer_id, a.tier, b.customer_id, b.tier FROM segmentation.customer_segments a "
                        "JOIN segmentation.customer_segments b ON b.tier <> a.tier "
                        "ORDER BY a.customer_id, b.customer_id LIMIT 1")[0]


@pytest.fixture
def loaded(clean_db: Engine, sample_path) -> Engine:
    load_customers_file(clean_db, sample_path)
    return clean_db


# -- history ----------------------------------------------------------------------------------------------
def test_a_run_goes_through_every_stage_once_in_the_order_of_the_stage_list(loaded):
    result = run_stages(loaded, RunInputs(recipe=FOUR_SEGMENTS, validation=None))

    assert tuple(result.timings) == STAGES
    assert result.published == 2240 and result.report.summary.run["run_id"] == result.run_id


def test_history_adds_rows_only_when_a_segment_or_tier_changes(loaded):
    first = run_pipeline(loaded, mode="retrain")
    customers = scalar(loaded, "SELECT count(*) FROM segmentation.customer_segments")
    assert customers == 2240
    assert rows(loaded, "SELECT run_id, count(*), count(valid_to) FROM segmentation.segment_history GROUP BY 1") == [
        (first, customers, 0)]

    # Same data again: nothing changed, no history rows, no movements, profiles for the new run only.
    history_before = rows(loaded, "SELECT * FROM segmentation.segment_history ORDER BY customer_id")
    second = run_pipeline(loaded, mode="reassign")
    assert rows(loaded, "SELECT * FROM segmentation.segment_history ORDER BY customer_id") == history_before
    assert rows(loaded, "SELECT * FROM segmentation.tier_movements") == []
    assert rows(loaded, "SELECT DISTINCT run_id FROM segmentation.latest_profiles") == [(second,)]

    # A retried publish of the same run (stage, audit, publish again) adds neither history nor profiles;
    # a publish with nothing staged says so and changes nothing.
    profiles_before = rows(loaded, "SELECT * FROM segmentation.segment_profiles ORDER BY run_id, segment_id")
    with loaded.connect() as connection:
        model = registry.read_active_model(connection)
    features = read_features(loaded)
    assignment = reassign(features, model)
    with pytest.raises(AuditFailedError, match="nothing is staged"):
        publish(loaded, run_id=second, assignment=assignment)
    stage(loaded, model, second, now_utc())
    audit(loaded, run_id=second, model_version=model.model_version, expected_rows=len(features))
    assert publish(loaded, run_id=second, assignment=assignment) == customers
    assert rows(loaded, "SELECT * FROM segmentation.segment_history ORDER BY customer_id") == history_before
    assert rows(loaded, "SELECT * FROM segmentation.segment_profiles ORDER BY run_id, segment_id") == profiles_before

    # One customer takes on the record of a customer in another tier: one row closed, one opened.
    moved, old_tier, twin, new_tier = customer_in_another_tier(loaded)
    give_customer_the_record_of(loaded, moved, twin)
    third = run_pipeline(loaded, mode="reassign")
    changed = rows(loaded, "SELECT customer_id, tier, run_id, closed_by_run_id, valid_to IS NULL "
                           "FROM segmentation.segment_history WHERE customer_id = :c ORDER BY valid_from", c=moved)
    assert changed == [(moved, old_tier, first, third, False), (moved, new_tier, third, None, True)]
    assert scalar(loaded, "SELECT count(*) FROM segmentation.segment_history") == customers + 1
    ranks = {"Bronze": 1, "Silver": 2, "Gold": 3, "Platinum": 4}
    direction = "up" if ranks[new_tier] > ranks[old_tier] else "down"
    assert rows(loaded, "SELECT customer_id, from_tier, to_tier, direction, previous_run_id, run_id "
                        "FROM segmentation.tier_movements") == [(moved, old_tier, new_tier, direction, second, third)]
    audience = rows(loaded, "SELECT a.tier, a.previous_tier, a.tier_since = h.valid_from, a.run_id "
                            "FROM segmentation.campaign_audience a JOIN segmentation.segment_history h "
                            "ON h.customer_id = a.customer_id AND h.valid_to IS NULL WHERE a.customer_id = :c",
                    c=moved)
    assert audience == [(new_tier, old_tier, True, third)]
    # Everyone else keeps the date of their first assignment and has no previous tier.
    assert rows(loaded, "SELECT count(*) FROM segmentation.campaign_audience a JOIN segmentation.segment_history h "
                        "ON h.customer_id = a.customer_id AND h.run_id = :first WHERE a.customer_id <> :c "
                        "AND a.tier_since = h.valid_from AND a.previous_tier IS NULL", first=first, c=moved) == [
        (customers - 1,)]

    # A customer who leaves the source: its current row is closed, and it leaves the audience.
    with loaded.begin() as connection:
        connection.execute(sa.text("DELETE FROM source.customers WHERE customer_id = :c"), {"c": twin})
    fourth = run_pipeline(loaded, mode="reassign")
    assert rows(loaded, "SELECT closed_by_run_id FROM segmentation.segment_history WHERE customer_id = :c", c=twin) == [
        (fourth,)]
    assert scalar(loaded, "SELECT count(*) FROM segmentation.campaign_audience WHERE customer_id = :c", c=twin) == 0
    assert scalar(loaded, "SELECT count(*) FROM segmentation.segment_history WHERE valid_to IS NULL") == customers - 1


# -- write-audit-publish, seen from a second connection ------------------------------------------------------
def test_a_concurrent_reader_sees_the_old_state_until_publish_commits_then_the_new(loaded):
    run_pipeline(loaded, mode="retrain")
    moved, _, twin, _ = customer_in_another_tier(loaded)
    give_customer_the_record_of(loaded, moved, twin)  # so that history and movements change too
    before = published_state(loaded)

    seen_during_publish: dict[str, object] = {}

    def look_from_another_connection(step: str) -> None:
        with loaded.connect() as reader:
            # After the swap the reader waits for the commit (the partition's lock): give up after a moment.
            reader.exec_driver_sql("SET lock_timeout = '500ms'")
            try:
                seen_during_publish[step] = published_state(reader)
            except sa.exc.OperationalError as error:
                assert "lock timeout" in str(error.orig)
                seen_during_publish[step] = "waits for the commit"

    second = run_pipeline(loaded, mode="retrain", after_step=look_from_another_connection)

    assert list(seen_during_publish) == ["segment_history", "segment_profiles", "customer_segments"]
    assert seen_during_publish.pop("customer_segments") == "waits for the commit"
    for step, seen in seen_during_publish.items():
        assert seen == before, f"a reader saw part of the publish after step {step}"
    after = published_state(loaded)
    assert after != before
    assert {run_id for run_id, *_ in after["segments"]} == {second}
    assert after["latest_profiles"] == [(second, len(after["profiles"]) - len(before["profiles"]))]
    assert [row[0] for row in after["movements"]] == [moved]


STAGING = "segmentation_work.customer_segments_staging"


@pytest.mark.parametrize(("tamper", "failure"), [
    (f"DELETE FROM {STAGING} WHERE customer_id = (SELECT min(customer_id) FROM {STAGING})",
     r"row count matches the modelled customers \(staged 2239, expected 2240\)"),
    (f"INSERT INTO {STAGING} SELECT * FROM {STAGING} ORDER BY customer_id DESC LIMIT 1",
     r"every customer assigned exactly once \(customer_id repeats: Key \(customer_id\)=\(\d+\) is duplicated"),
], ids=["a staged row lost", "a customer staged twice"])
def test_a_failed_audit_publishes_nothing_and_the_run_says_why(loaded, tamper, failure):
    run_pipeline(loaded, mode="retrain")
    before = published_state(loaded)
    segments_before = rows(loaded, "SELECT * FROM segmentation.customer_segments ORDER BY customer_id")

    def tamper_with_the_staged_rows(engine: Engine) -> None:
        with engine.begin() as connection:
            connection.execute(sa.text(tamper))

    with pytest.raises(AuditFailedError, match=failure):
        run_pipeline(loaded, mode="retrain", before_audit=tamper_with_the_staged_rows)

    assert published_state(loaded) == before
    assert rows(loaded, "SELECT * FROM segmentation.customer_segments ORDER BY customer_id") == segments_before
    status, failed_stage, error = rows(loaded, "SELECT status, failed_stage, error FROM segmentation.pipeline_runs "
                                               "ORDER BY run_id DESC LIMIT 1")[0]
    assert (status, failed_stage) == ("failed", "publish")
    assert "nothing was published" in error and re.search(failure, error)
    # The failed run's model never became active.
    assert rows(loaded, "SELECT status FROM segmentation.models ORDER BY model_version") == [("active",), ("retired",)]


def test_the_rows_do_not_depend_on_how_many_connections_build_them(loaded):
    """Features and staging split their work into ranges on parallel connections: one part and three give
    the same rows, and three staging partitions publish as three partitions."""
    run_pipeline(loaded, mode="retrain")
    run_id = start_run(loaded, mode_requested="reassign", recipe_name="default", parameters={}, flow_run_id=None)
    with loaded.connect() as connection:
        active = registry.read_active_model(connection)
    extract_query = "SELECT * FROM segmentation_work.customers_extract ORDER BY customer_id"
    staged_query = ("SELECT customer_id, segment_id, tier, monetary, distance_to_centroid "
                    "FROM segmentation_work.customer_segments_staging ORDER BY customer_id")
    built = {}
    extracted = extract_customers(loaded, SourceMapping(), today=date.today())
    for parts in (1, 3):
        compute_features(loaded, FOUR_SEGMENTS, as_of=extracted.snapshot_date, snapshot_date=extracted.snapshot_date,
                         run_id=run_id, parts=parts)
        features = read_features(loaded)
        assignment = reassign(features, active)
        staged = stage(loaded, active, run_id, now_utc(), parts=parts)
        built[parts] = (extracted.rows, rows(loaded, extract_query), features, staged, rows(loaded, staged_query))
    (rows_one, extract_one, features_one, staged_one, segments_one) = built[1]
    (rows_three, extract_three, features_three, staged_three, segments_three) = built[3]
    assert rows_one == rows_three == len(extract_one) == 2240 and extract_one == extract_three
    assert features_one.equals(features_three)
    assert staged_one == staged_three == len(features_one) and segments_one == segments_three

    audited = {"run_id": run_id, "model_version": active.model_version, "expected_rows": len(features_three)}
    checks = audit(loaded, **audited)
    assert audit(loaded, **audited) == checks  # a repeated audit finds the partitions' keys built
    publish(loaded, run_id=run_id, assignment=assignment)
    partitions = rows(loaded, "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits AS i "
                              "JOIN pg_class AS c ON c.oid = i.inhrelid "
                              "WHERE i.inhparent = 'segmentation.customer_segments'::regclass ORDER BY 1")
    assert [name for name, _ in partitions] == [f"customer_segments_published_p{part}" for part in range(3)]
    assert partitions[0][1].startswith("FOR VALUES FROM (MINVALUE)") and partitions[2][1].endswith("TO (MAXVALUE)")
    assert scalar(loaded, "SELECT count(*) FROM segmentation.customer_segments") == 2240


def test_a_model_fitted_on_a_sample_places_every_customer(loaded):
    """Above the recipe's training_sample the model stage reads a sample of the features, the same one for
    the same customers; staging then places every customer in the database, as Python would."""
    recipe = FOUR_SEGMENTS.model_copy(update={"training_sample": 500})
    run_pipeline(loaded, recipe, mode="retrain")
    sample = read_features(loaded, sample=500, seed=recipe.random_state)
    everyone = read_features(loaded)
    assert 400 < len(sample) < 600 and sample["customer_id"].is_monotonic_increasing
    assert sample.equals(read_features(loaded, sample=500, seed=recipe.random_state))
    assert set(sample["customer_id"]) < set(everyone["customer_id"])
    assert read_features(loaded, sample=5000, seed=recipe.random_state).equals(everyone)  # fewer: all of them
    with loaded.connect() as connection:
        model = registry.read_active_model(connection)
    assert model.training_rows == min(len(sample), 500)

    in_python = reassign(everyone, model)
    segment_of = {label.cluster_index: label.segment_id for label in model.segments}
    published = rows(loaded, "SELECT customer_id, segment_id, distance_to_centroid "
                             "FROM segmentation.customer_segments ORDER BY customer_id")
    assert [(customer, segment) for customer, segment, _ in published] == [
        (int(customer), segment_of[int(cluster)]) for customer, cluster in zip(everyone["customer_id"],
                                                                                in_python.labels, strict=True)]
    np.testing.assert_allclose([row[2] for row in published], in_python.distances, rtol=1e-9, atol=1e-9)


def test_profiles_summarise_the_published_rows(loaded):
    """The profiles come from the totals the audit sums per segment, name and tier: they agree with the
    published rows summarised by pandas."""
    run_id = run_pipeline(loaded, mode="retrain")
    with loaded.connect() as connection:
        published = pd.read_sql(sa.text("SELECT * FROM segmentation.customer_segments"), connection)
        profiles = pd.read_sql(sa.text("SELECT * FROM segmentation.segment_profiles WHERE run_id = :run_id "
                                       "ORDER BY segment_id"), connection, params={"run_id": run_id})
    segments = published.groupby("segment_id")
    visited = published[published["web_visits_month"] > 0].groupby("segment_id")
    expected = pd.DataFrame({
        "customers": segments.size(), "share": segments.size() / len(published),
        "mean_recency_days": segments["recency_days"].mean(), "mean_frequency": segments["frequency"].mean(),
        "mean_monetary": segments["monetary"].mean(), "mean_tenure_days": segments["tenure_days"].mean(),
        "mean_campaign_acceptances": segments["campaign_acceptances"].mean(),
        "mean_income": segments["income"].mean(), "mean_age": segments["age"].mean(),
        "gmv_total": segments["monetary"].sum(), "gmv_annual": segments["monetary"].sum() / SPEND_WINDOW_YEARS,
        "response_rate": segments["response"].mean(),
        "conversion_rate": visited["conversion_rate"].mean().reindex(segments.size().index).fillna(0)})
    assert list(profiles["segment_id"]) == list(expected.index) and len(profiles) == 4
    pd.testing.assert_frame_equal(profiles.set_index("segment_id")[list(expected.columns)], expected,
                                  check_dtype=False, check_names=False, rtol=1e-9)
    assert (profiles["tier"] == profiles["segment_id"].map(segments["tier"].first())).all()


def test_a_first_publish_builds_the_history_indexes_after_the_rows(loaded):
    index_query = ("SELECT indexdef FROM pg_indexes WHERE schemaname = 'segmentation' "
                   "AND tablename = 'segment_history' ORDER BY indexname")
    definitions = rows(loaded, index_query)
    assert rows(loaded, "SELECT count(*) FROM segmentation.segment_history") == [(0,)]
    run_pipeline(loaded, mode="retrain")
    assert rows(loaded, index_query) == definitions and len(definitions) == 4
    assert rows(loaded, "SELECT count(*), count(DISTINCT customer_id) FROM segmentation.segment_history "
                        "WHERE valid_to IS NULL") == [(2240, 2240)]


def test_a_failure_inside_the_publish_transaction_rolls_all_of_it_back(loaded):
    run_pipeline(loaded, mode="retrain")
    moved, _, twin, _ = customer_in_another_tier(loaded)
    give_customer_the_record_of(loaded, moved, twin)
    before = published_state(loaded)

    def fail_after_segments(step: str) -> None:
        if step == "customer_segments":
            raise RuntimeError("connection lost (simulated)")

    with pytest.raises(RuntimeError, match="simulated"):
        run_pipeline(loaded, mode="reassign", after_step=fail_after_segments)

    assert published_state(loaded) == before
    assert rows(loaded, "SELECT status, failed_stage FROM segmentation.pipeline_runs ORDER BY run_id DESC LIMIT 1") == [
        ("failed", "publish")]


def test_replaced_work_tables_are_retired_then_dropped_without_touching_what_is_published(loaded):
    work_tables = ("SELECT relname, obj_description(oid, 'pg_class') IS NOT NULL, reloptions FROM pg_class "
                   "WHERE relnamespace = 'segmentation_work'::regnamespace AND relkind = 'r' "
                   "AND relname !~ '^history_changes' ORDER BY 1")
    run_pipeline(loaded, mode="retrain")
    drop_retired_tables(loaded)  # what the first run replaced: the migrations' empty tables
    first = rows(loaded, work_tables)
    run_pipeline(loaded, mode="reassign")
    after = published_state(loaded)
    retired = [name for name, *_ in rows(loaded, work_tables) if "_retired" in name]
    # The previous extract, features and published partitions: renamed, not dropped, by the run.
    parts = range(PARALLEL_PARTS)
    assert retired == sorted(["customers_extract_retired", "customer_features_retired",
                              *[f"customer_features_retired_p{part}" for part in parts],
                              *[f"customer_segments_retired_p{part}" for part in parts]])
    assert sorted(drop_retired_tables(loaded)) == retired
    # What stays is what the first run left: the new features table has the old one's comment and settings.
    assert rows(loaded, work_tables) == first and not any("_retired" in name for name, *_ in first)
    assert ("customer_features", True, ["autovacuum_enabled=false"]) in first
    assert published_state(loaded) == after
    run_pipeline(loaded, mode="reassign")  # and a run after the drop finds nothing in its way
    assert sorted(drop_retired_tables(loaded)) == retired


# -- the consumer role ---------------------------------------------------------------------------------------
CONSUMER_VIEWS = ["campaign_audience", "tier_movements", "latest_profiles"]


def test_the_reader_role_reads_segmentation_and_nothing_else(loaded):
    run_pipeline(loaded, mode="retrain")
    assert rows(loaded, "SELECT rolcanlogin FROM pg_roles WHERE rolname = 'segments_reader'") == [(False,)]
    with loaded.connect() as connection, connection.begin():
        connection.exec_driver_sql("SET LOCAL ROLE segments_reader")
        tables = connection.execute(sa.text(
            "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables WHERE schemaname = 'segmentation' "
            "UNION ALL SELECT format('%I.%I', schemaname, viewname) FROM pg_views "
            "WHERE schemaname = 'segmentation'")).scalars().all()
        assert {f"segmentation.{view}" for view in CONSUMER_VIEWS} <= set(tables)
        for table in tables:
            connection.exec_driver_sql(f"SELECT * FROM {table} LIMIT 1").all()
        assert connection.scalar(sa.text("SELECT count(*) FROM segmentation.campaign_audience")) == 2240
        scored = connection.execute(sa.text(
            "SELECT tier FROM segmentation.assign_segment(CAST(:features AS jsonb))"),
            {"features": '{"recency_days": 5, "frequency": 30, "monetary": 2000, "tenure_days": 600, '
                         '"campaign_acceptances": 2}'}).scalar_one()
        assert scored in {"Platinum", "Gold", "Silver", "Bronze"}

        refused = ["SELECT * FROM source.customers LIMIT 1", "SELECT * FROM source.loads LIMIT 1",
                   "SELECT * FROM segmentation_work.customer_features LIMIT 1",
                   "DELETE FROM segmentation.customer_segments",
                   "UPDATE segmentation.models SET status = 'retired'",
                   "INSERT INTO segmentation.segment_history VALUES (1, 1, 'x', 'Gold', now(), NULL, 1, NULL)"]
        for statement in refused:
            with pytest.raises(sa.exc.ProgrammingError, match="permission denied"), connection.begin_nested():
                connection.exec_driver_sql(statement)


def test_new_segmentation_tables_are_readable_by_the_reader_role(clean_db):
    with clean_db.connect() as connection, connection.begin() as transaction:
        connection.exec_driver_sql("CREATE TABLE segmentation.added_later (x integer)")
        assert connection.scalar(sa.text(
            "SELECT has_table_privilege('segments_reader', 'segmentation.added_later', 'SELECT')")) is True
        assert connection.scalar(sa.text(
            "SELECT has_table_privilege('segments_reader', 'segmentation.added_later', 'INSERT')")) is False
        transaction.rollback()


def test_migration_0004_applies_again_without_changing_anything(loaded):
    run_pipeline(loaded, mode="retrain")
    before = published_state(loaded)
    # 0004 again, then the views and functions, as an upgrade applies them again after any migration
    migration = MIGRATIONS_DIR / "versions" / "0004_campaign_tables.sql"
    with loaded.begin() as connection:
        for path in [migration, *(SQL_DIR / name for name in REPEATABLE_OBJECTS)]:
            driver_connection(connection).execute(path.read_text())  # as the upgrade runs them
    assert published_state(loaded) == before


# -- in-database scoring ---------------------------------------------------------------------------------------
WITH_UNCAPPED_INCOME = FOUR_SEGMENTS.model_copy(update={
    "name": "uncapped-with-income", "capping": Capping(method="none"),
    "features": [*FOUR_SEGMENTS.features, FeatureSpec(name="income", transform="log1p")],
    "missing_values": {"income": "median"}})


@pytest.mark.parametrize("recipe", [load_recipe("default"), load_recipe("reference-rfmlc"), WITH_UNCAPPED_INCOME],
                         ids=["default", "reference-rfmlc", "no-capping-imputed-income"])
def test_scoring_in_the_database_agrees_with_python_on_every_customer(loaded, recipe):
    run_pipeline(loaded, recipe, mode="retrain")
    features = read_features(loaded)
    with loaded.connect() as connection:
        model = registry.read_active_model(connection)
        in_database = rows(connection, "SELECT f.customer_id, a.segment_id, a.tier, a.distance_to_centroid "
                                       "FROM segmentation_work.customer_features f "
                                       "CROSS JOIN LATERAL segmentation.assign_segment(f.customer_id) a "
                                       "ORDER BY f.customer_id")
        stored = connection.execute(sa.text("SELECT preprocessing FROM segmentation.models "
                                             "WHERE status = 'active'")).scalar_one()
    in_python = reassign(features, model)
    labels = {label.cluster_index: label for label in model.segments}
    expected = [(int(customer), labels[int(cluster)].segment_id, labels[int(cluster)].tier)
                for customer, cluster in zip(features["customer_id"], in_python.labels, strict=True)]
    assert len(in_database) == len(features) == 2240
    assert [row[:3] for row in in_database] == expected
    np.testing.assert_allclose([row[3] for row in in_database], in_python.distances, rtol=1e-9, atol=1e-9)
    if recipe.capping.method == "none":  # unbounded caps are stored as JSON null (jsonb has no Infinity)
        assert all(step["cap_low"] is None and step["cap_high"] is None for step in stored)
        assert np.isinf([f.cap_high for f in model.preprocessing.features]).all()
    # The published rows, placed in bulk when they were staged (tasks/model/scoring.py), agree too.
    published = rows(loaded, "SELECT customer_id, segment_id, tier, distance_to_centroid "
                             "FROM segmentation.customer_segments ORDER BY customer_id")
    assert [row[:3] for row in published] == expected
    np.testing.assert_allclose([row[3] for row in published], in_python.distances, rtol=1e-9, atol=1e-9)


def test_bulk_scoring_names_only_catalog_features_and_binds_the_numbers():
    """The staging SQL (tasks/model/scoring.py) carries the model's numbers as parameters; the only names in it
    are features of the catalog, quoted, so a tampered model row cannot inject SQL."""
    feature = FeaturePreprocessing("monetary", 390.0, 5.0, 2500.0, "log1p", 6.2, 1.1)
    scoring = scoring_sql(Preprocessing([feature]), np.array([[0.5], [-1.25]]))
    scaled, partial = scoring.scaled.as_string(None), scoring.partial.as_string(None)
    assert 'f."monetary"' in scaled and "390" not in scaled and "-1.25" not in partial
    assert scoring.parameters["centroid_1_0"] == -1.25 and scoring.parameters["centroid_norm_1"] == 1.5625
    with pytest.raises(ConfigurationError, match="not a feature of the catalog"):
        scoring_sql(Preprocessing([replace(feature, name='monetary"; DROP TABLE x; --')]), np.zeros((2, 1)))
    with pytest.raises(ConfigurationError, match="centroids of shape"):
        scoring_sql(Preprocessing([feature]), np.zeros((2, 3)))


def test_scoring_raw_values_needs_every_model_feature(loaded):
    run_pipeline(loaded, mode="retrain")
    with loaded.connect() as connection:
        with pytest.raises(sa.exc.DBAPIError, match="lacks the model feature.*tenure_days"):
            connection.execute(sa.text("SELECT * FROM segmentation.assign_segment(CAST(:f AS jsonb))"),
                               {"f": '{"recency_days": 5, "frequency": 30, "monetary": 2000, '
                                     '"campaign_acceptances": 2}'})


def test_scoring_without_an_active_model_says_what_to_do(clean_db):
    with clean_db.connect() as connection:
        with pytest.raises(sa.exc.DBAPIError, match="no active segmentation model"):
            connection.execute(sa.text("SELECT * FROM segmentation.assign_segment(CAST('{}' AS jsonb))"))


# -- documentation in the database -----------------------------------------------------------------------------
def test_every_table_column_view_and_function_has_a_comment(engine):
    with engine.connect() as connection:
        catalog = read_catalog(connection)
    assert catalog.undocumented() == []
    kinds = {(relation.kind, relation.qualified_name) for relation in catalog.relations}
    assert {("view", f"segmentation.{view}") for view in CONSUMER_VIEWS} <= kinds
    assert ("table", "segmentation.segment_history") in kinds
    assert {function.signature for function in catalog.functions} >= {
        "segmentation.assign_segment(feature_values jsonb)", "segmentation.assign_segment(customer_id bigint)"}


def test_the_committed_tables_page_matches_the_database(engine):
    with engine.connect() as connection:
        page = tables_page(connection)
    assert TABLES_PAGE.read_text() == page, "docs/tables.md is out of date: run `segments docs`"


def test_segments_docs_checks_and_writes_the_page(engine, tmp_path):
    from typer.testing import CliRunner

    from flows.cli import app

    runner = CliRunner()
    current = runner.invoke(app, ["docs", "--check", "--output", str(TABLES_PAGE)])
    assert current.exit_code == 0, current.output
    stale = tmp_path / "tables.md"
    stale.write_text("# Tables\n")
    refused = runner.invoke(app, ["docs", "--check", "--output", str(stale)])
    assert refused.exit_code == 1 and "out of date" in refused.output
    written = runner.invoke(app, ["docs", "--output", str(stale)])
    assert written.exit_code == 0 and stale.read_text() == TABLES_PAGE.read_text()
