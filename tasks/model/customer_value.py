"""Predicted customer value: BG/NBD purchases and Gamma-Gamma spend, fitted by maximum likelihood.

BG/NBD (Fader, Hardie & Lee 2005, "Counting Your Customers the Easy Way") models each customer's repeat
purchases: purchases at a gamma-distributed rate while alive, and after each purchase a beta-distributed
chance of dropping out. From a customer's frequency x (repeat purchases), recency t_x (first to last
purchase) and age T (first purchase to the end of calibration) it gives P(alive) and the expected purchases
in the next t periods. Gamma-Gamma (Fader & Hardie 2013, "The Gamma-Gamma Model of Monetary Value") models
the mean spend per transaction of repeat customers; it gives the expected average spend.

Our own module on numpy and scipy rather than a library: lifetimes is archived (no longer maintained), and
PyMC-Marketing needs Python 3.12+ and the whole PyMC stack, for a fit that is a few log-likelihood lines and
scipy.optimize. The tests check it against the papers' published CDNOW numbers.

Fitting: L-BFGS-B on the log-parameters with the analytic gradient; the log-likelihoods are summed in log
space (gammaln, logaddexp). A fit counts as converged when the gradient of the mean log-likelihood per
customer is near zero.

Times are in one unit per fit (days in the pipeline, weeks in the papers); `time_unit_days` records which.
r, a, b and p, q, gamma do not depend on the unit; alpha scales with it (alpha in days = 7 x alpha in weeks).

Many customers: the fit merges identical (x, t_x, T) rows into one weighted row, which is exact and, with
times in whole days, shrinks millions of customers to far fewer distinct rows. Where that is still too
many, `sample_rows` draws a seeded random sample to fit on; the prediction functions then run on every
customer (they are vectorised, no fitting).

Fitted state is plain data: frozen dataclasses of numbers with to_dict/from_dict, stored like the K-Means
model. A fit that failed or is degenerate raises ValueModelError, so the caller keeps the last good values.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import numpy as np
from scipy.integrate import quad
from scipy.optimize import minimize
from scipy.special import betaln, digamma, expit, gammaln, hyp2f1

from tasks.errors import SegmentsError

MIN_CUSTOMERS = 30
# Log-parameters are kept within these bounds so that the likelihood never overflows; an optimum on a
# bound means the data do not pin that parameter down, which we treat as degenerate.
LOG_PARAMETER_BOUND = 18.0
_GRADIENT_TOLERANCE = 1e-7  # on the mean log-likelihood per customer


class ValueModelError(SegmentsError, ValueError):
    """A customer value model could not be fitted, or its fit is degenerate; nothing fitted was returned."""


@dataclass(frozen=True)
class BgNbdParameters:
    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float
    converged: bool
    iterations: int
    customers: int
    time_unit_days: float

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, document: dict) -> BgNbdParameters:
        return cls(**{f.name: _typed(f.type, document[f.name]) for f in fields(cls)})


@dataclass(frozen=True)
class GammaGammaParameters:
    p: float
    q: float
    gamma: float
    log_likelihood: float
    converged: bool
    iterations: int
    customers: int

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, document: dict) -> GammaGammaParameters:
        return cls(**{f.name: _typed(f.type, document[f.name]) for f in fields(cls)})


def _typed(annotation: str, value: object):
    # Annotations are strings under `from __future__ import annotations`.
    return {"float": float, "int": int, "bool": bool}[annotation](value)


# ---------------------------------------------------------------------------------------------------------
# Preparing the rows


def sample_rows(count: int, max_rows: int, seed: int) -> np.ndarray:
    """The indices (sorted) of a seeded random sample of at most max_rows out of count rows; all of them when
    there are no more than max_rows."""
    if max_rows < 1:
        raise ValueModelError(f"the fitting sample must allow at least one row, not {max_rows}")
    if count <= max_rows:
        return np.arange(count)
    return np.sort(np.random.default_rng(seed).choice(count, size=max_rows, replace=False))


def aggregate_identical_rows(*columns: np.ndarray, weights: np.ndarray | None = None
                             ) -> tuple[list[np.ndarray], np.ndarray]:
    """The distinct rows of the columns and how many customers (or how much weight) each stands for."""
    stacked = np.column_stack([np.asarray(column, dtype=float) for column in columns])
    distinct, inverse = np.unique(stacked, axis=0, return_inverse=True)
    inverse = inverse.ravel()  # its shape changed in numpy 2.0
    counts = np.bincount(inverse, weights=weights, minlength=len(distinct)).astype(float)
    return [distinct[:, i] for i in range(distinct.shape[1])], counts


def _as_array(name: str, values) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.ndim != 1:
        raise ValueModelError(f"{name} must be one value per customer (a 1-d array), not shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueModelError(f"{name} has missing or infinite values; fill or drop those customers first")
    return array


def _weights(values, count: int) -> np.ndarray | None:
    if values is None:
        return None
    weights = _as_array("weights", values)
    if len(weights) != count or np.any(weights <= 0):
        raise ValueModelError("weights must be one positive number per customer")
    return weights


def _checked_summary(frequency, recency, age) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x, t_x, big_t = _as_array("frequency", frequency), _as_array("recency", recency), _as_array("age", age)
    if not len(x) == len(t_x) == len(big_t):
        raise ValueModelError(
            f"frequency, recency and age differ in length ({len(x)}, {len(t_x)}, {len(big_t)})")
    if np.any(x < 0) or np.any(x != np.round(x)):
        raise ValueModelError("frequency must be whole numbers of repeat purchases, 0 or more")
    if np.any(t_x < 0) or np.any(t_x > big_t):
        raise ValueModelError("each customer needs 0 <= recency <= age (times since the first purchase, in "
                              "one unit)")
    return x, t_x, big_t


# ---------------------------------------------------------------------------------------------------------
# BG/NBD


def bg_nbd_log_likelihoods(r: float, alpha: float, a: float, b: float,
                           x: np.ndarray, t_x: np.ndarray, big_t: np.ndarray) -> np.ndarray:
    """Each customer's log-likelihood under BG/NBD (Fader, Hardie & Lee 2005, equation 6), in log space: the
    two terms are added with logaddexp, and customers with x = 0 have only the first."""
    return _bg_nbd_terms(r, alpha, a, b, x, t_x, big_t)[0]


def _bg_nbd_terms(r, alpha, a, b, x, t_x, big_t):
    repeat = x > 0
    common = (gammaln(r + x) - gammaln(r) + r * np.log(alpha)
              + gammaln(a + b) + gammaln(b + x) - gammaln(b) - gammaln(a + b + x))
    still_alive = -(r + x) * np.log(alpha + big_t)
    # B(a + 1, b + x - 1) / B(a, b + x) = a / (b + x - 1): dropped out just after the last purchase.
    dropped = np.full_like(x, -np.inf)
    dropped[repeat] = (np.log(a) - np.log(b + x[repeat] - 1)
                       - (r + x[repeat]) * np.log(alpha + t_x[repeat]))
    mixture = np.logaddexp(still_alive, dropped)
    return common + mixture, still_alive, dropped, mixture


def _bg_nbd_gradient(r, alpha, a, b, x, t_x, big_t, still_alive, dropped, mixture) -> np.ndarray:
    """d log-likelihood / d (log r, log alpha, log a, log b), per customer, as columns."""
    repeat = x > 0
    alive_share = np.exp(still_alive - mixture)
    dropped_share = np.exp(dropped - mixture)  # 0 for x = 0
    b_x_1 = np.where(repeat, b + x - 1, 1.0)
    d_r = (digamma(r + x) - digamma(r) + np.log(alpha)
           - alive_share * np.log(alpha + big_t) - dropped_share * np.log(alpha + t_x))
    d_alpha = r / alpha - alive_share * (r + x) / (alpha + big_t) - dropped_share * (r + x) / (alpha + t_x)
    shared = digamma(a + b) - digamma(a + b + x)
    d_a = shared + dropped_share / a
    d_b = shared + digamma(b + x) - digamma(b) - dropped_share / b_x_1
    return np.column_stack([r * d_r, alpha * d_alpha, a * d_a, b * d_b])


def fit_bg_nbd(frequency, recency, age, *, weights=None, time_unit_days: float = 1.0,
               min_customers: int = MIN_CUSTOMERS) -> BgNbdParameters:
    """Fit BG/NBD's (r, alpha, a, b) by maximum likelihood.

    frequency: repeat purchases (periods with a purchase after the first); recency: first to last purchase;
    age: first purchase to the end of calibration; recency and age in one unit, `time_unit_days` days long.
    weights: how many customers each row stands for (identical rows are merged anyway)."""
    x, t_x, big_t = _checked_summary(frequency, recency, age)
    weights = _weights(weights, len(x))
    customers = float(len(x) if weights is None else weights.sum())
    if customers < min_customers:
        raise ValueModelError(f"BG/NBD needs at least {min_customers} customers to fit, got {customers:g}")
    if not np.any(x > 0):
        raise ValueModelError("BG/NBD cannot be fitted: no customer made a repeat purchase, so purchase "
                              "rates and dropout are not identified; fit on a longer calibration period")
    (x, t_x, big_t), counts = aggregate_identical_rows(x, t_x, big_t, weights=weights)

    def objective(log_parameters: np.ndarray) -> tuple[float, np.ndarray]:
        r, alpha, a, b = np.exp(log_parameters)
        log_likelihoods, still_alive, dropped, mixture = _bg_nbd_terms(r, alpha, a, b, x, t_x, big_t)
        gradient = _bg_nbd_gradient(r, alpha, a, b, x, t_x, big_t, still_alive, dropped, mixture)
        # The mean, not the sum, so that the tolerances mean the same for 2,000 or 2,000,000 customers.
        return -counts @ log_likelihoods / customers, -counts @ gradient / customers

    # alpha starts at the mean age so that the search is the same whatever the time unit.
    start = np.log([1.0, float(np.average(big_t, weights=counts)), 1.0, 1.0])
    names = ("r", "alpha", "a", "b")
    result = _minimise(objective, start, "BG/NBD")
    r, alpha, a, b = _checked_parameters(result, names, "BG/NBD")
    log_likelihood = float(counts @ bg_nbd_log_likelihoods(r, alpha, a, b, x, t_x, big_t))
    _check_finite(log_likelihood, "BG/NBD")
    return BgNbdParameters(r=r, alpha=alpha, a=a, b=b, log_likelihood=log_likelihood, converged=True,
                           iterations=int(result.nit), customers=int(round(customers)),
                           time_unit_days=float(time_unit_days))


def probability_alive(parameters: BgNbdParameters, frequency, recency, age) -> np.ndarray:
    """P(alive | x, t_x, T): the chance each customer has not dropped out by the end of calibration. 1 for
    customers without repeat purchases (BG/NBD lets customers drop out only just after a purchase)."""
    x, t_x, big_t = _checked_summary(frequency, recency, age)
    return expit(-_log_dropped_odds(parameters, x, t_x, big_t))


def _log_dropped_odds(parameters: BgNbdParameters, x, t_x, big_t) -> np.ndarray:
    """log of (a / (b + x - 1)) ((alpha + T) / (alpha + t_x))^(r + x), -inf for x = 0; in logs because
    the power overflows for long-lapsed frequent customers."""
    r, alpha, a, b = parameters.r, parameters.alpha, parameters.a, parameters.b
    repeat = x > 0
    odds = np.full_like(x, -np.inf)
    odds[repeat] = (np.log(a) - np.log(b + x[repeat] - 1)
                    + (r + x[repeat]) * (np.log(alpha + big_t[repeat]) - np.log(alpha + t_x[repeat])))
    return odds


def expected_purchases(parameters: BgNbdParameters, periods: float, frequency, recency, age) -> np.ndarray:
    """E[Y(t) | x, t_x, T]: each customer's expected purchases in the next `periods` time units
    (Fader, Hardie & Lee 2005, equation 10): P(alive) times the expected purchases if alive."""
    x, t_x, big_t = _checked_summary(frequency, recency, age)
    return (_expected_purchases_if_alive(parameters, float(periods), x, big_t)
            * expit(-_log_dropped_odds(parameters, x, t_x, big_t)))


def expected_purchases_new_customer(parameters: BgNbdParameters, periods) -> np.ndarray:
    """E[X(t)]: a new customer's expected repeat purchases in their first `periods` time units
    (Fader, Hardie & Lee 2005, equation 7); equation 10 with x = t_x = T = 0."""
    t = np.atleast_1d(np.asarray(periods, dtype=float))
    return _expected_purchases_if_alive(parameters, t, np.zeros_like(t), np.zeros_like(t))


def _expected_purchases_if_alive(parameters: BgNbdParameters, t, x: np.ndarray, big_t: np.ndarray
                                 ) -> np.ndarray:
    """(a + b + x - 1) / (a - 1) [1 - ((alpha + T) / (alpha + T + t))^(r + x) 2F1(r + x, b + x; a + b + x - 1;
    z)], z = t / (alpha + T + t), taken by Euler's transformation to
    (a + b + x - 1) / (a - 1) [1 - (1 - z)^(a - 1) 2F1(a + b - 1 - r, a - 1; a + b + x - 1; z)]: no power of
    (alpha + T) to overflow, and scipy's 2F1 is accurate on it where the paper's form and Pfaff's are not
    (large x, t long beside T). Where scipy's 2F1 still gives nan (seen when c - a - b is a whole number),
    the row is integrated numerically instead."""
    r, alpha, a, b = parameters.r, parameters.alpha, parameters.a, parameters.b
    if a == 1:
        raise ValueModelError("BG/NBD expected purchases are undefined for a = 1 exactly; refit the model")
    t, x, big_t = np.broadcast_arrays(np.asarray(t, dtype=float), x, big_t)
    c = a + b + x - 1
    log_remaining = np.log(alpha + big_t) - np.log(alpha + big_t + t)  # log(1 - z) without cancelling
    z = -np.expm1(log_remaining)
    value = c / (a - 1) * (1 - np.exp((a - 1) * log_remaining) * hyp2f1(a + b - 1 - r, a - 1, c, z))
    for row in np.flatnonzero(~np.isfinite(value)):
        value[row] = _expected_purchases_if_alive_by_quadrature(parameters, t[row], x[row], big_t[row])
    return value


def _expected_purchases_if_alive_by_quadrature(parameters: BgNbdParameters, t: float, x: float,
                                               big_t: float) -> float:
    """The same expectation as the mean over the posterior of the dropout probability p ~ Beta(a, b + x) of
    (1 - (1 + p t / (alpha + T))^-(r + x)) / p, the purchases expected in t given p, averaged over the
    posterior purchase rate. One quad call per customer: only for the rare rows 2F1 fails on."""
    r, alpha, a, b = parameters.r, parameters.alpha, parameters.a, parameters.b
    stretch, shape = t / (alpha + big_t), r + x

    def given_dropout(p: float) -> float:
        return -np.expm1(-shape * np.log1p(p * stretch)) / p if p > 0 else shape * stretch

    integral, _ = quad(given_dropout, 0, 1, weight="alg", wvar=(a - 1, b + x - 1), limit=200)
    return integral / np.exp(betaln(a, b + x))


# ---------------------------------------------------------------------------------------------------------
# Gamma-Gamma


def gamma_gamma_log_likelihoods(p: float, q: float, gamma: float, x: np.ndarray, m_x: np.ndarray) -> np.ndarray:
    """Each repeat customer's log-likelihood of their mean spend m_x over x transactions
    (Fader & Hardie 2013, the density of m_x given p, q, gamma and x)."""
    px = p * x
    return (gammaln(px + q) - gammaln(px) - gammaln(q) + q * np.log(gamma)
            + (px - 1) * np.log(m_x) + px * np.log(x) - (px + q) * np.log(gamma + m_x * x))


def _gamma_gamma_gradient(p, q, gamma, x, m_x) -> np.ndarray:
    """d log-likelihood / d (log p, log q, log gamma), per customer, as columns."""
    px = p * x
    log_total = np.log(gamma + m_x * x)
    d_p = x * (digamma(px + q) - digamma(px) + np.log(m_x) + np.log(x) - log_total)
    d_q = digamma(px + q) - digamma(q) + np.log(gamma) - log_total
    d_gamma = q / gamma - (px + q) / (gamma + m_x * x)
    return np.column_stack([p * d_p, q * d_q, gamma * d_gamma])


def fit_gamma_gamma(frequency, monetary_mean, *, weights=None,
                    min_customers: int = MIN_CUSTOMERS) -> GammaGammaParameters:
    """Fit Gamma-Gamma's (p, q, gamma) by maximum likelihood on the repeat customers (x > 0) with a positive
    mean spend per repeat transaction; other customers are left out, as in the paper. q <= 1 is refused:
    the expected spend p (gamma + m_x x) / (p x + q - 1) is then not finite for every customer."""
    x, m_x = _as_array("frequency", frequency), _as_array("monetary_mean", monetary_mean)
    if len(x) != len(m_x):
        raise ValueModelError(f"frequency and monetary_mean differ in length ({len(x)}, {len(m_x)})")
    weights = _weights(weights, len(x))
    used = (x > 0) & (m_x > 0)
    customers = float(used.sum() if weights is None else weights[used].sum())
    if customers < min_customers:
        raise ValueModelError(
            f"Gamma-Gamma needs at least {min_customers} repeat customers with a positive mean spend, got "
            f"{customers:g}")
    (x, m_x), counts = aggregate_identical_rows(x[used], m_x[used],
                                                weights=None if weights is None else weights[used])

    def objective(log_parameters: np.ndarray) -> tuple[float, np.ndarray]:
        p, q, gamma = np.exp(log_parameters)
        log_likelihoods = gamma_gamma_log_likelihoods(p, q, gamma, x, m_x)
        gradient = _gamma_gamma_gradient(p, q, gamma, x, m_x)
        return -counts @ log_likelihoods / customers, -counts @ gradient / customers

    # gamma starts at the mean spend so that the search is the same whatever the currency.
    start = np.log([1.0, 1.0, float(np.average(m_x, weights=counts))])
    result = _minimise(objective, start, "Gamma-Gamma")
    p, q, gamma = _checked_parameters(result, ("p", "q", "gamma"), "Gamma-Gamma")
    if q <= 1:
        raise ValueModelError(f"Gamma-Gamma fit is degenerate: q = {q:.4g} <= 1, so expected spend is not "
                              "finite; the spends may be too few or too heavy-tailed for this model")
    log_likelihood = float(counts @ gamma_gamma_log_likelihoods(p, q, gamma, x, m_x))
    _check_finite(log_likelihood, "Gamma-Gamma")
    return GammaGammaParameters(p=p, q=q, gamma=gamma, log_likelihood=log_likelihood, converged=True,
                                iterations=int(result.nit), customers=int(round(customers)))


def expected_average_spend(parameters: GammaGammaParameters, frequency, monetary_mean) -> np.ndarray:
    """E[M | p, q, gamma, m_x, x] = p (gamma + m_x x) / (p x + q - 1): each customer's expected spend per
    transaction (Fader & Hardie 2013). For x = 0 it is the population mean p gamma / (q - 1)."""
    x, m_x = _as_array("frequency", frequency), _as_array("monetary_mean", monetary_mean)
    p, q, gamma = parameters.p, parameters.q, parameters.gamma
    m_x = np.where(x > 0, m_x, 0.0)  # no repeat transactions, no evidence about the customer's own spend
    return p * (gamma + m_x * x) / (p * x + q - 1)


# ---------------------------------------------------------------------------------------------------------
# Fitting


def _minimise(objective, start: np.ndarray, model: str):
    bounds = [(-LOG_PARAMETER_BOUND, LOG_PARAMETER_BOUND)] * len(start)
    try:
        result = minimize(objective, start, jac=True, method="L-BFGS-B", bounds=bounds,
                          options={"maxiter": 1000, "ftol": 1e-15, "gtol": _GRADIENT_TOLERANCE})
    except (FloatingPointError, ValueError) as error:
        raise ValueModelError(f"{model} fit failed: {error}") from error
    # L-BFGS-B can stop on a flat stretch ("ABNORMAL") at the optimum; the gradient is what says converged.
    gradient_norm = float(np.max(np.abs(result.jac))) if np.all(np.isfinite(result.jac)) else np.inf
    if not np.isfinite(result.fun) or gradient_norm > 10 * _GRADIENT_TOLERANCE:
        raise ValueModelError(
            f"{model} fit did not converge after {result.nit} iterations ({result.message}; largest "
            f"gradient {gradient_norm:.3g}); the previous parameters are kept")
    return result


def _checked_parameters(result, names: tuple[str, ...], model: str) -> tuple[float, ...]:
    at_bound = [name for name, value in zip(names, result.x) if abs(value) >= LOG_PARAMETER_BOUND - 1e-6]
    if at_bound:
        raise ValueModelError(
            f"{model} fit is degenerate: {', '.join(at_bound)} ran to the edge of the parameter space "
            f"({', '.join(f'{n}={v:.3g}' for n, v in zip(names, np.exp(result.x)))}); the data do not "
            "identify the model")
    values = tuple(float(v) for v in np.exp(result.x))
    if not all(np.isfinite(values)):
        raise ValueModelError(f"{model} fit gave non-finite parameters {values}")
    return values


def _check_finite(log_likelihood: float, model: str) -> None:
    if not np.isfinite(log_likelihood):
        raise ValueModelError(f"{model} fit gave a non-finite log-likelihood ({log_likelihood})")
