"""The value stage of an orders run: fit BG/NBD and Gamma-Gamma on the customers' RFM summary, store the
models as data (segmentation.value_models), and predict every customer's next year into
segmentation_work.customer_value, which the publish reads.

Time is in days. The fit reads a reproducible sample of the customers when they are many; the predictions
stream every customer a batch at a time, so memory follows the sample, not the customer count. A holdout
check refits on the orders up to a cut-off and compares the predicted repeat purchase days after it with
the actual ones.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
from sqlalchemy.engine import Engine

from tasks.db.sql import (
    analyze_for_planning,
    copy_in_arrays,
    read_arrays,
    run_sql_file,
    sql_file_with_values,
    stream_arrays,
)
from tasks.model.customer_value import (
    BgNbdParameters,
    GammaGammaParameters,
    ValueModelError,
    expected_average_spend,
    expected_purchases,
    fit_bg_nbd,
    fit_gamma_gamma,
    probability_alive,
)

HORIZON_DAYS = 365
VALUE_TABLE = "segmentation_work.customer_value"
FIT_COLUMNS = {"frequency": "f8", "recency": "f8", "age": "f8", "monetary": "f8"}
HOLDOUT_COLUMNS = {"frequency": "f8", "recency": "f8", "age": "f8", "actual": "f8"}


@dataclass(frozen=True)
class ValueModels:
    purchases: BgNbdParameters
    spend: GammaGammaParameters
    fit_customers: int
    holdout: dict | None

    def describe(self) -> str:
        p = self.purchases
        return (f"BG/NBD r={p.r:.3f} alpha={p.alpha:.3f} a={p.a:.3f} b={p.b:.3f} (log-likelihood "
                f"{p.log_likelihood:,.1f}, {self.fit_customers:,} customers); Gamma-Gamma p={self.spend.p:.2f} "
                f"q={self.spend.q:.2f} gamma={self.spend.gamma:.2f} ({self.spend.customers:,} repeat customers)")


def fit_value_models(summary: dict[str, np.ndarray]) -> tuple[BgNbdParameters, GammaGammaParameters]:
    purchases = fit_bg_nbd(summary["frequency"], summary["recency"], summary["age"], time_unit_days=1.0)
    spend = fit_gamma_gamma(summary["frequency"], summary["monetary"])
    return purchases, spend


def _sample_percent(customers: int, sample: int) -> float:
    return 100.0 if customers <= sample else max(0.0001, 100.0 * sample / customers)


def predict_customer_value(engine: Engine, *, run_id: int, as_of: date, customers: int, sample: int,
                           seed: int) -> ValueModels:
    """Fit, check on a holdout, store the models, and write every modelled customer's predictions."""
    with engine.connect() as connection:
        query = sql_file_with_values(connection, "model/value_fit_sample.sql", {
            "percent": _sample_percent(customers, sample), "seed": seed, "run_id": run_id})
    summary = read_arrays(engine, query, None, FIT_COLUMNS)
    if len(summary["frequency"]) == 0:
        raise ValueModelError("no customer to fit the value models on: the run models no customer with orders")
    purchases, spend = fit_value_models(summary)
    holdout = holdout_check(engine, as_of=as_of, customers=customers, sample=sample)
    models = ValueModels(purchases, spend, len(summary["frequency"]), holdout)
    with engine.begin() as connection:
        run_sql_file(connection, "model/insert_value_model.sql", {
            "run_id": run_id, "as_of": as_of, "time_unit_days": purchases.time_unit_days,
            "horizon_days": HORIZON_DAYS, "fit_customers": models.fit_customers, "bgnbd_r": purchases.r,
            "bgnbd_alpha": purchases.alpha, "bgnbd_a": purchases.a, "bgnbd_b": purchases.b,
            "bgnbd_log_likelihood": purchases.log_likelihood, "bgnbd_iterations": purchases.iterations,
            "repeat_customers": spend.customers, "gamma_gamma_p": spend.p, "gamma_gamma_q": spend.q,
            "gamma_gamma_gamma": spend.gamma, "gamma_gamma_log_likelihood": spend.log_likelihood,
            "gamma_gamma_iterations": spend.iterations,
            "holdout": None if holdout is None else json.dumps(holdout)})
    write_predictions(engine, run_id, purchases, spend)
    return models


def write_predictions(engine: Engine, run_id: int, purchases: BgNbdParameters, spend: GammaGammaParameters) -> int:
    """Every modelled customer's p_alive, expected purchases and value over the horizon, a batch at a time."""
    with engine.connect() as connection:
        query = sql_file_with_values(connection, "model/value_customers.sql", {"run_id": run_id})
    written = 0
    with engine.begin() as connection:
        run_sql_file(connection, "model/clear_customer_value.sql")
        for batch in stream_arrays(engine, query, {"customer_id": "i8", **FIT_COLUMNS}):
            x, t_x, age = batch["frequency"], batch["recency"], batch["age"]
            expected = expected_purchases(purchases, HORIZON_DAYS, x, t_x, age)
            written += copy_in_arrays(connection, VALUE_TABLE, {
                "customer_id": batch["customer_id"],
                "p_alive": probability_alive(purchases, x, t_x, age),
                "expected_purchases_365d": expected,
                "expected_value_365d": expected * expected_average_spend(spend, x, batch["monetary"])})
        analyze_for_planning(connection, VALUE_TABLE)
    return written


def clear_predictions(engine: Engine) -> None:
    """A customer-profile run predicts no value: the publish finds none."""
    with engine.begin() as connection:
        run_sql_file(connection, "model/clear_customer_value.sql")


def holdout_check(engine: Engine, *, as_of: date, customers: int, sample: int) -> dict | None:
    """Refit on the orders up to a cut-off (the last quarter of the history, at most a year before as_of)
    and compare the predicted repeat purchase days after it with the actual ones. None when the history is
    too short to hold any out."""
    with engine.connect() as connection:
        first = run_sql_file(connection, "model/first_purchase_day.sql").scalar()
    if first is None or (as_of - first).days < 60:
        return None
    held_out_days = min(HORIZON_DAYS, (as_of - first).days // 4)
    cutoff = as_of - timedelta(days=held_out_days)
    with engine.connect() as connection:
        query = sql_file_with_values(connection, "model/value_holdout.sql", {
            "cutoff": cutoff, "as_of": as_of, "modulus": max(1, customers // sample)})
    data = read_arrays(engine, query, None, HOLDOUT_COLUMNS)
    try:
        purchases = fit_bg_nbd(data["frequency"], data["recency"], data["age"])
    except ValueModelError as error:
        return {"cutoff": cutoff.isoformat(), "error": str(error)}
    predicted = expected_purchases(purchases, held_out_days, data["frequency"], data["recency"], data["age"])
    actual = data["actual"]
    return {"cutoff": cutoff.isoformat(), "held_out_days": held_out_days, "customers": int(len(actual)),
            "predicted_repeat_days": round(float(predicted.sum()), 1), "actual_repeat_days": int(actual.sum()),
            "mean_absolute_error": round(float(np.abs(predicted - actual).mean()), 4),
            "mean_absolute_error_of_the_mean": round(float(np.abs(actual.mean() - actual).mean()), 4)}
