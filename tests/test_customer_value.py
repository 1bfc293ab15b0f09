"""BG/NBD and Gamma-Gamma against the published CDNOW numbers; properties of P(alive); degenerate fits.

Data: Bruce Hardie's CDNOW 1/10 sample summary (2,357 customers who first bought in the first quarter of
1997, calibration to 1997-09-30, times in weeks; zbar is the mean spend of the repeat transactions).
No database.
"""

from __future__ import annotations

import math
from datetime import date
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.integrate import quad
from scipy.special import betaln

from tasks.errors import SegmentsError
from tasks.model.customer_value import (
    BgNbdParameters,
    GammaGammaParameters,
    ValueModelError,
    aggregate_identical_rows,
    expected_average_spend,
    expected_purchases,
    expected_purchases_new_customer,
    fit_bg_nbd,
    fit_gamma_gamma,
    gamma_gamma_log_likelihoods,
    probability_alive,
    sample_rows,
)

CDNOW = Path(__file__).parent / "data" / "cdnow_customers_summary_with_transactions.csv"


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    return pd.read_csv(CDNOW)


@pytest.fixture(scope="module")
def bg_nbd_weeks(cdnow) -> BgNbdParameters:
    return fit_bg_nbd(cdnow["x"], cdnow["t_x"], cdnow["T"], time_unit_days=7)


@pytest.fixture(scope="module")
def gamma_gamma(cdnow) -> GammaGammaParameters:
    return fit_gamma_gamma(cdnow["x"], cdnow["zbar"])


def published(value: float, decimals: int) -> object:
    """Equal to `value` as printed with `decimals` decimals: within half a unit of the last digit."""
    return pytest.approx(value, abs=0.5 * 10.0 ** -decimals)


# Fader, Hardie & Lee (2005), "Counting Your Customers the Easy Way", Marketing Science 24(2), section 4 on
# the CDNOW sample: r = 0.243, alpha = 4.414, a = 0.793, b = 2.426, LL = -9582.4.
def test_bg_nbd_fit_in_weeks_gives_the_published_parameters_and_log_likelihood(bg_nbd_weeks):
    fit = bg_nbd_weeks
    assert (fit.r, fit.alpha, fit.a, fit.b) == (
        published(0.243, 3), published(4.414, 3), published(0.793, 3), published(2.426, 3))
    assert fit.log_likelihood == published(-9582.4, 1)
    assert fit.converged and fit.customers == 2357 and fit.time_unit_days == 7.0


def test_bg_nbd_fit_in_days_gives_the_same_parameters_with_alpha_seven_times_larger(cdnow, bg_nbd_weeks):
    # The CSV's weeks are rounded to 2 decimals, so whole days are recovered by rounding (error < 0.04 day).
    days = fit_bg_nbd(cdnow["x"], np.round(cdnow["t_x"] * 7), np.round(cdnow["T"] * 7))
    assert (days.r, days.alpha / 7, days.a, days.b) == (
        published(0.243, 3), published(4.414, 3), published(0.793, 3), published(2.426, 3))
    assert days.alpha == pytest.approx(30.9, abs=0.05)
    # Changing the unit rescales each repeat purchase's time density by 1/7: LL falls by sum(x) ln 7.
    assert days.log_likelihood == pytest.approx(
        bg_nbd_weeks.log_likelihood - cdnow["x"].sum() * math.log(7), abs=0.1)


# Fader, Hardie & Lee (2005), section 4: a customer with x = 2, t_x = 30.43, T = 38.86 (weeks) is expected
# to make 1.226 purchases in the next 39 weeks.
def test_conditional_expected_purchases_match_the_paper(bg_nbd_weeks):
    assert expected_purchases(bg_nbd_weeks, 39, [2], [30.43], [38.86])[0] == published(1.226, 3)


# Hardie's BG/NBD spreadsheet, as checked by lifetimes (CamDavidsonPilon/lifetimes, tests/test_estimation.py,
# test_expectation_returns_same_value_Hardie_excel_sheet): E[X(t)] for a new customer. The sheet prints 4
# decimals; ours agree to 4 up to 32 weeks and to 3 at 78 weeks (1.8580), so 3 are asserted, as lifetimes does.
def test_expected_purchases_of_a_new_customer_match_hardies_spreadsheet(bg_nbd_weeks):
    weeks = [0.1429, 1.0, 3.0, 31.8571, 32.0, 78.0]
    expected = [0.0078, 0.0532, 0.1506, 1.0405, 1.0437, 1.8576]
    assert list(expected_purchases_new_customer(bg_nbd_weeks, weeks)) == [published(e, 3) for e in expected]


def test_probability_alive_is_one_without_repeat_purchases_and_falls_with_time_since_the_last(bg_nbd_weeks):
    # BG/NBD lets a customer drop out only just after a purchase, so x = 0 means alive.
    assert list(probability_alive(bg_nbd_weeks, [0, 0], [0, 0], [1, 500])) == [1.0, 1.0]
    ages = np.array([30.43, 38.86, 52, 104, 520])
    p_alive = probability_alive(bg_nbd_weeks, np.full(5, 2), np.full(5, 30.43), ages)
    assert np.all(np.diff(p_alive) < 0) and p_alive[0] < 1 and p_alive[-1] > 0
    # ... and rises with recency for the same frequency and age.
    assert np.all(np.diff(probability_alive(bg_nbd_weeks, [3, 3, 3], [5, 20, 38], [38.86] * 3)) > 0)


def if_alive_by_integration(parameters: BgNbdParameters, t: float, x: float, age: float) -> float:
    """E[Y(t) | alive] derived apart from equation 10: given a dropout probability p, purchases expected in t
    are (1 - exp(-lambda p t)) / p; averaged over the posterior lambda ~ Gamma(r + x, alpha + T), then over
    p ~ Beta(a, b + x) by quadrature."""
    r, alpha, a, b = parameters.r, parameters.alpha, parameters.a, parameters.b
    stretch = t / (alpha + age)
    integral, _ = quad(lambda p: -np.expm1(-(r + x) * np.log1p(p * stretch)) / p if p > 0 else (r + x) * stretch,
                       0, 1, weight="alg", wvar=(a - 1, b + x - 1), epsabs=0, epsrel=1e-12, limit=500)
    return integral / math.exp(betaln(a, b + x))


@pytest.mark.parametrize("r, alpha, a, b", [
    (0.243, 30.9, 0.793, 2.426),  # CDNOW in days
    (2.5, 10.0, 0.3, 0.8),        # frequent buyers, a + b near 1
    (1.0, 30.0, 2.0, 3.0),        # whole numbers: scipy's 2F1 returns nan for some rows, integrated instead
])
def test_expected_purchases_agree_with_a_direct_integration_over_a_year_of_days(r, alpha, a, b):
    model = BgNbdParameters(r, alpha, a, b, log_likelihood=0.0, converged=True, iterations=0, customers=0,
                            time_unit_days=1.0)
    x, age = np.meshgrid([0.0, 1, 3, 10, 40, 200], [0.0, 1, 10, 100, 700])
    x, age = x.ravel(), age.ravel()
    alive = expected_purchases(model, 365, x, age, age) / probability_alive(model, x, age, age)
    reference = [if_alive_by_integration(model, 365, one_x, one_age) for one_x, one_age in zip(x, age)]
    assert alive == pytest.approx(reference, rel=1e-9)
    assert expected_purchases(model, 365, [0], [0], [0])[0] == pytest.approx(
        expected_purchases_new_customer(model, 365)[0], rel=1e-12)


def test_predictions_stay_finite_for_long_lapsed_frequent_customers_and_long_horizons(bg_nbd_weeks):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an overflow warning would mean a power was computed outright
        lapsed = expected_purchases(bg_nbd_weeks, 52, [500, 500], [1, 1], [1e5, 1e3])
        p_alive = probability_alive(bg_nbd_weeks, [500], [1], [1e5])
        long_horizon = expected_purchases(bg_nbd_weeks, 1e4, [1], [1], [2])
    assert list(lapsed) == [0.0, pytest.approx(0.0, abs=1e-12)] and p_alive[0] == 0.0
    assert np.isfinite(long_horizon[0]) and long_horizon[0] > 0


# Fader & Hardie (2013), "The Gamma-Gamma Model of Monetary Value", on the 946 repeat customers of the CDNOW
# sample: p = 6.25, q = 3.74, gamma = 15.44. The likelihood is flat along gamma: our maximum is gamma =
# 15.4477, 0.0015 above the log-likelihood at the published triple, and Hardie's own spreadsheet values
# (next test) agree with 15.4477 rather than 15.44, so gamma is asserted to one unit of the last digit.
def test_gamma_gamma_fit_on_repeat_customers_gives_the_published_parameters(cdnow, gamma_gamma):
    fit = gamma_gamma
    assert fit.customers == 946 == int((cdnow["x"] > 0).sum())
    assert (fit.p, fit.q) == (published(6.25, 2), published(3.74, 2))
    assert fit.gamma == pytest.approx(15.44, abs=0.01)
    repeat = cdnow[cdnow["x"] > 0]
    at_published = gamma_gamma_log_likelihoods(6.25, 3.74, 15.44, repeat["x"].to_numpy(float),
                                               repeat["zbar"].to_numpy()).sum()
    assert 0 <= fit.log_likelihood - at_published < 0.01


# Hardie's Gamma-Gamma spreadsheet (brucehardie.com/notes/025), as checked by lifetimes
# (tests/test_estimation.py, test_conditional_expected_average_profit): the first ten customers' expected
# spend per transaction, printed truncated to cents.
def test_expected_average_spend_matches_hardies_spreadsheet(cdnow, gamma_gamma):
    first = cdnow.head(10)
    expected = [24.65, 18.91, 35.17, 35.17, 35.17, 71.46, 18.91, 35.17, 27.28, 35.17]
    spend = expected_average_spend(gamma_gamma, first["x"], first["zbar"])
    assert np.all((spend - expected >= 0) & (spend - expected < 0.01))


def test_fitted_parameters_round_trip_through_plain_dicts(bg_nbd_weeks, gamma_gamma):
    assert BgNbdParameters.from_dict(bg_nbd_weeks.to_dict()) == bg_nbd_weeks
    assert GammaGammaParameters.from_dict(gamma_gamma.to_dict()) == gamma_gamma
    assert all(isinstance(v, (float, int, bool)) for v in bg_nbd_weeks.to_dict().values())


def test_weighted_distinct_rows_fit_the_same_as_every_customer(cdnow, bg_nbd_weeks):
    (x, t_x, big_t), weights = aggregate_identical_rows(cdnow["x"], cdnow["t_x"], cdnow["T"])
    assert len(x) < len(cdnow) and weights.sum() == len(cdnow)
    weighted = fit_bg_nbd(x, t_x, big_t, weights=weights, time_unit_days=7)
    assert weighted.customers == 2357
    assert weighted.log_likelihood == pytest.approx(bg_nbd_weeks.log_likelihood, abs=1e-6)
    assert weighted.alpha == pytest.approx(bg_nbd_weeks.alpha, rel=1e-6)


def test_a_seeded_sample_is_repeatable_and_fits_close_to_the_full_data(cdnow, bg_nbd_weeks):
    rows = sample_rows(len(cdnow), 1500, seed=7)
    assert len(rows) == len(set(rows)) == 1500 and np.array_equal(rows, sample_rows(len(cdnow), 1500, seed=7))
    assert np.array_equal(sample_rows(100, 1500, seed=7), np.arange(100))
    sample = cdnow.iloc[rows]
    fit = fit_bg_nbd(sample["x"], sample["t_x"], sample["T"], time_unit_days=7)
    assert fit.customers == 1500 and fit.r == pytest.approx(bg_nbd_weeks.r, rel=0.3)


def test_too_few_customers_fail_with_a_clear_message(cdnow):
    five = cdnow.head(5)
    with pytest.raises(ValueModelError, match="at least 30 customers to fit, got 5"):
        fit_bg_nbd(five["x"], five["t_x"], five["T"])
    with pytest.raises(ValueModelError, match="at least 30 repeat customers with a positive mean spend, got 2"):
        fit_gamma_gamma(five["x"], five["zbar"])


def test_no_repeat_purchases_fail_with_a_clear_message():
    with pytest.raises(ValueModelError, match="no customer made a repeat purchase"):
        fit_bg_nbd(np.zeros(100), np.zeros(100), np.full(100, 39.0))


def test_inconsistent_summaries_are_refused():
    with pytest.raises(ValueModelError, match="recency <= age"):
        fit_bg_nbd([1] * 50, [40] * 50, [39] * 50)
    with pytest.raises(ValueModelError, match="whole numbers"):
        fit_bg_nbd([1.5] * 50, [3] * 50, [39] * 50)
    with pytest.raises(ValueModelError, match="missing or infinite"):
        fit_gamma_gamma([1, 2], [np.nan, 3.0])


def test_spend_too_heavy_tailed_for_a_finite_mean_is_a_degenerate_gamma_gamma_fit():
    # Per-customer spend scales drawn with shape q = 0.7: the mean spend across customers is infinite.
    rng = np.random.default_rng(1)
    x = rng.integers(1, 6, 800).astype(float)
    spend = rng.gamma(6 * x, 1 / rng.gamma(0.7, 1 / 15.0, 800)) / x
    with pytest.raises(ValueModelError, match=r"q = .* <= 1") as raised:
        fit_gamma_gamma(x, spend)
    assert isinstance(raised.value, SegmentsError) and isinstance(raised.value, ValueError)


# -- the value stage on the database ------------------------------------------------------------------------
def test_the_value_stage_stores_the_published_cdnow_fit_and_predicts_every_customer(cdnow_orders):
    # Calibration end 1997-09-30 as in Fader, Hardie & Lee (2005); the stage fits in days, so alpha is the
    # paper's (weeks) times 7, and r, a, b are the paper's.
    import sqlalchemy as sa

    from tasks.extract.orders import OrdersMapping, extract_orders
    from tasks.model.predict_value import predict_customer_value
    from tasks.pipeline.record import start_run

    extract = extract_orders(cdnow_orders, OrdersMapping(), "UTC", as_of=date(1997, 9, 30))
    run_id = start_run(cdnow_orders, mode_requested="retrain", recipe_name="rfm-orders", parameters={},
                       flow_run_id=None)
    models = predict_customer_value(cdnow_orders, run_id=run_id, as_of=extract.snapshot_date,
                                    customers=extract.customers, sample=200_000, seed=42)

    with cdnow_orders.connect() as connection:
        stored = connection.execute(sa.text("SELECT * FROM segmentation.value_models WHERE run_id = :r"),
                                    {"r": run_id}).mappings().one()
        predicted = connection.execute(sa.text(
            "SELECT count(*), min(p_alive), max(p_alive), sum(expected_purchases_365d) "
            "FROM segmentation_work.customer_value")).one()
    assert (round(stored["bgnbd_r"], 3), round(stored["bgnbd_alpha"] / 7, 3), round(stored["bgnbd_a"], 3),
            round(stored["bgnbd_b"], 3)) == (0.243, 4.414, 0.793, 2.426)
    assert (round(stored["gamma_gamma_p"], 2), round(stored["gamma_gamma_q"], 2)) == (6.25, 3.74)
    assert stored["fit_customers"] == 2357 and stored["repeat_customers"] == 946 == models.spend.customers
    assert predicted[0] == 2357 and 0 < predicted[1] <= predicted[2] <= 1 and predicted[3] > 0
