"""The BG/NBD model of repeat buying (Fader, Hardie & Lee 2005, "'Counting your customers' the
easy way: an alternative to the Pareto/NBD model", Marketing Science 24(2)).

While alive, a customer buys as a Poisson process of rate lambda, lambda ~ Gamma(r, alpha)
across customers; after each purchase she drops out for good with probability p,
p ~ Beta(a, b). A customer is summarised by (x, t_x, T): x repeat purchases, the last at time
t_x after the first, observed for T since the first. Times are in whatever unit the summary is
(the CDNOW literature uses weeks); alpha is in that unit too.

Everything here is closed-form and vectorised over customers (numpy broadcasting between the
summary arrays and the horizon t); nothing is simulated.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.special import betaln, digamma, expit, gammaln, hyp2f1, xlogy
from scipy.stats import nbinom

from relevo.propensity._arrays import Floats, as_floats, summary_arrays, weights_array
from relevo.propensity._fit import minimise_log_params, unique_rows
from relevo.propensity.errors import InvalidCustomerSummary

# The fit rescales time so that the oldest customer's T is this, as lifetimes does: the
# optimiser then starts from 1 for every parameter, and a penalizer means the same whatever
# the time unit of the data.
_SCALED_MAX_T = 10.0


@dataclass(frozen=True)
class BgNbdParams:
    r: float
    alpha: float
    a: float
    b: float

    def as_dict(self) -> dict[str, float]:
        return {"r": self.r, "alpha": self.alpha, "a": self.a, "b": self.b}


@dataclass(frozen=True)
class BgNbdFit:
    params: BgNbdParams
    log_likelihood: float  # summed over customers, without the penalty, in the data's unit
    customers: float  # the sum of the weights
    converged: bool
    message: str
    iterations: int


def log_likelihood(
    params: BgNbdParams, frequency: npt.ArrayLike, recency: npt.ArrayLike, T: npt.ArrayLike
) -> Floats:
    """Per customer, the log-likelihood of (x, t_x, T) (the paper's equation 6)."""
    x, t_x, age = summary_arrays(frequency, recency, T)
    theta = np.array([params.r, params.alpha, params.a, params.b])
    return _log_likelihood_and_gradient(theta, x, t_x, age)[0]


def _log_likelihood_and_gradient(
    theta: Floats, x: Floats, t_x: Floats, age: Floats
) -> tuple[Floats, Floats]:
    """Per customer, ll and its gradient in theta = (r, alpha, a, b), rows of shape (4, n)."""
    r, alpha, a, b = (float(v) for v in theta)
    repeat = x > 0
    x1 = np.where(repeat, x, 1.0)  # keeps the x = 0 branch of the second term finite
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    # Alive at T, or dropped out just after the last purchase (only if there was one).
    a2 = betaln(a, b + x) - betaln(a, b) - (r + x) * np.log(alpha + age)
    a3 = np.where(
        repeat,
        betaln(a + 1, b + x1 - 1) - betaln(a, b) - (r + x) * np.log(alpha + t_x),
        -np.inf,
    )
    mix = np.logaddexp(a2, a3)
    w3 = np.exp(a3 - mix)
    w2 = 1.0 - w3
    d_r = (
        digamma(r + x)
        - digamma(r)
        + np.log(alpha)
        - w2 * np.log(alpha + age)
        - w3 * np.log(alpha + t_x)
    )
    d_alpha = r / alpha - (r + x) * (w2 / (alpha + age) + w3 / (alpha + t_x))
    d_a = digamma(a + b) - digamma(a + b + x) + w3 / a
    d_b = (
        digamma(a + b)
        - digamma(b)
        - digamma(a + b + x)
        + w2 * digamma(b + x)
        + w3 * digamma(b + x1 - 1)
    )
    return a1 + mix, np.stack([d_r, d_alpha, d_a, d_b])


def fit_bgnbd(
    frequency: npt.ArrayLike,
    recency: npt.ArrayLike,
    T: npt.ArrayLike,
    *,
    weights: npt.ArrayLike | None = None,
    penalizer: float = 0.0,
) -> BgNbdFit:
    """Maximum likelihood estimates of (r, alpha, a, b).

    ``weights`` counts customers sharing a summary (as in aggregated data). ``penalizer`` adds
    ``penalizer * (r**2 + alpha'**2 + a**2 + b**2)`` to the mean negative log-likelihood per
    customer, alpha' being alpha in time rescaled so that the largest T is 10 (lifetimes'
    convention, so its penalizer values carry over); it keeps a and b finite on small or
    nearly homogeneous data. A fit that does not converge says so in ``converged``."""
    if penalizer < 0:
        raise InvalidCustomerSummary("penalizer must be >= 0")
    x, t_x, age = summary_arrays(frequency, recency, T)
    x, t_x, age = (v.ravel() for v in (x, t_x, age))
    if not np.any(x > 0):
        # Dropout only shows after a repeat purchase: without one, a and b are not identified.
        raise InvalidCustomerSummary(
            "the BG/NBD model needs customers with repeat purchases; there are none"
        )
    w = weights_array(weights, x.size)
    scale = float(age.max()) / _SCALED_MAX_T if age.max() > 0 else 1.0
    (ux, ut_x, uage), uw = unique_rows(x, t_x / scale, age / scale, weights=w)
    total = float(uw.sum())

    def objective(theta: Floats) -> tuple[float, Floats]:
        ll, grad = _log_likelihood_and_gradient(theta, ux, ut_x, uage)
        value = -float(uw @ ll) / total + penalizer * float(theta @ theta)
        return value, -(grad @ uw) / total + 2 * penalizer * theta

    optimum = minimise_log_params(objective, np.ones(4))
    r, alpha_scaled, a, b = (float(v) for v in optimum.params)
    params = BgNbdParams(r=r, alpha=alpha_scaled * scale, a=a, b=b)
    return BgNbdFit(
        params=params,
        log_likelihood=float(w @ log_likelihood(params, x, t_x, age)),
        customers=float(w.sum()),
        converged=optimum.converged,
        message=optimum.message,
        iterations=optimum.iterations,
    )


def probability_alive(
    params: BgNbdParams, frequency: npt.ArrayLike, recency: npt.ArrayLike, T: npt.ArrayLike
) -> Floats:
    """P(still alive at T | x, t_x, T). 1 for a customer with no repeat purchase: in the
    BG/NBD a customer can only drop out just after a purchase."""
    x, t_x, age = summary_arrays(frequency, recency, T)
    return _probability_alive(params, x, t_x, age)


def _probability_alive(params: BgNbdParams, x: Floats, t_x: Floats, age: Floats) -> Floats:
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    x1 = np.where(x > 0, x, 1.0)
    # 1 / (1 + a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x)), in logs: the power overflows for
    # frequent buyers.
    log_odds_dead = (
        np.log(a) - np.log(b + x1 - 1) + (r + x) * (np.log(alpha + age) - np.log(alpha + t_x))
    )
    return np.where(x > 0, expit(-log_odds_dead), 1.0)


def expected_purchases(
    params: BgNbdParams,
    t: npt.ArrayLike,
    frequency: npt.ArrayLike,
    recency: npt.ArrayLike,
    T: npt.ArrayLike,
) -> Floats:
    """E[Y(t) | x, t_x, T]: expected purchases in (T, T + t] (the paper's equation 10)."""
    x, t_x, age = summary_arrays(frequency, recency, T)
    horizon = _horizon(t)
    return _expected_if_alive(params, horizon, x, age) * _probability_alive(params, x, t_x, age)


def _horizon(t: npt.ArrayLike) -> Floats:
    horizon = as_floats("t", t)
    if np.any(horizon < 0):
        raise InvalidCustomerSummary("the horizon t must be >= 0")
    return horizon


def _expected_if_alive(params: BgNbdParams, t: Floats, x: Floats, age: Floats) -> Floats:
    """E[Y(t) | alive at T, x, T] = (a+b+x-1)/(a-1) [1 - ((alpha+T)/(alpha+T+t))^(r+x)
    2F1(r+x, b+x; a+b+x-1; z)], z = t/(alpha+T+t). The 2F1 is taken through Euler's
    transformation, 2F1(A, B; C; z) = (1-z)^(C-A-B) 2F1(C-A, C-B; C; z), which turns the
    bracket into 1 - (1-z)^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z): parameters that do not grow
    with x, and a series that converges where the direct one fails for frequent buyers
    (Fader & Hardie 2013, "Overcoming the BG/NBD model's #NUM! error problem")."""
    r, alpha, b = params.r, params.alpha, params.b
    # The expression is 0/0 at a = 1 exactly; its limit is continuous in a.
    a = params.a if abs(params.a - 1.0) > 1e-9 else 1.0 + 1e-9
    z = t / (alpha + age + t)
    c = a + b + x - 1
    bracket = 1.0 - np.power(1.0 - z, a - 1) * hyp2f1(a + b - 1 - r, a - 1, c, z)
    # Both factors change sign together at a = 1; rounding can leave -1e-17 near t = 0.
    result: Floats = np.maximum(c / (a - 1) * bracket, 0.0)
    return result


def probability_of_purchase(
    params: BgNbdParams,
    t: npt.ArrayLike,
    frequency: npt.ArrayLike,
    recency: npt.ArrayLike,
    T: npt.ArrayLike,
) -> Floats:
    """P(Y(t) > 0 | x, t_x, T): at least one purchase in (T, T + t]. Alive at T, the rate has
    posterior Gamma(r + x, alpha + T) and no purchase means no Poisson event (a customer only
    drops out after buying), so P = P(alive) (1 - ((alpha+T)/(alpha+T+t))^(r+x))."""
    x, t_x, age = summary_arrays(frequency, recency, T)
    horizon = _horizon(t)
    r, alpha = params.r, params.alpha
    some = -np.expm1((r + x) * (np.log(alpha + age) - np.log(alpha + age + horizon)))
    result: Floats = some * _probability_alive(params, x, t_x, age)
    return result


def expected_repeat_purchases(params: BgNbdParams, t: npt.ArrayLike) -> Floats:
    """E[X(t)]: expected repeat purchases in (0, t] of a customer who made a first purchase at
    time 0 (the paper's equation 9)."""
    horizon = _horizon(t)
    zero = np.zeros_like(horizon)
    return _expected_if_alive(params, horizon, zero, zero)


def probability_of_repeat_purchases(
    params: BgNbdParams, t: npt.ArrayLike, n: npt.ArrayLike
) -> Floats:
    """P(X(t) = n): probability of exactly n repeat purchases in (0, t] for a customer who
    made a first purchase at time 0 (the paper's equation 8). Summed over customers with
    t = T_i, it is the expected histogram of calibration-period frequencies."""
    horizon = _horizon(t)
    count = as_floats("n", n)
    if np.any(count < 0) or np.any(count != np.round(count)):
        raise InvalidCustomerSummary("n must be an integer >= 0")
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    n1 = np.where(count > 0, count, 1.0)
    # Still alive after n purchases, which came from the NBD count.
    alive = np.exp(
        betaln(a, b + count)
        - betaln(a, b)
        + gammaln(r + count)
        - gammaln(r)
        - gammaln(count + 1)
        + r * (np.log(alpha) - np.log(alpha + horizon))
        + xlogy(count, horizon)  # 0 log 0 = 0: no purchase by t = 0 is certain
        - count * np.log(alpha + horizon)
    )
    # Dropped out right after the n-th purchase: the NBD count reached n by t.
    dropped = np.exp(betaln(a + 1, b + n1 - 1) - betaln(a, b)) * nbinom.sf(
        n1 - 1, r, alpha / (alpha + horizon)
    )
    result: Floats = alive + np.where(count > 0, dropped, 0.0)
    return result


def expected_cumulative_repeat_purchases(
    params: BgNbdParams, first_purchase: npt.ArrayLike, times: npt.ArrayLike
) -> Floats:
    """For a cohort whose customers made their first purchase at ``first_purchase`` (one time
    per customer), the expected total of repeat purchases made by each of ``times`` (same unit
    and origin): the paper's "cumulative repeat transactions" curve, to set against the actual
    one inside and beyond the calibration period."""
    starts, counts = np.unique(as_floats("first_purchase", first_purchase), return_counts=True)
    at = as_floats("times", times)
    ages = np.maximum(at[..., None] - starts, 0.0)
    result: Floats = expected_repeat_purchases(params, ages) @ counts.astype(np.float64)
    return result
