"""The Gamma-Gamma model of spend per transaction (Fader, Hardie & Lee 2005, "RFM and CLV:
using iso-value curves for customer base analysis", JMR 42(4); Fader & Hardie 2013, "The
Gamma-Gamma model of monetary value").

A customer's transaction values are Gamma(p, nu) around her mean p / nu, and nu ~ Gamma(q, v)
across customers. It is fitted on the customers with at least one repeat purchase, from x (the
number of transactions averaged) and z-bar (their mean value); spend is assumed independent of
the purchase process, so it combines with the BG/NBD for lifetime value (relevo.propensity.clv).
In the literature, and in relevo.propensity.rfm, z-bar is the mean over repeat transactions
only: the first purchase is left out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.special import digamma, gammaln

from relevo.propensity._arrays import Floats, as_floats, weights_array
from relevo.propensity._fit import minimise_log_params, unique_rows
from relevo.propensity.errors import InvalidCustomerSummary


@dataclass(frozen=True)
class GammaGammaParams:
    p: float
    q: float
    v: float  # the paper's gamma; in the unit of the money

    def as_dict(self) -> dict[str, float]:
        return {"p": self.p, "q": self.q, "v": self.v}

    @property
    def mean_spend(self) -> float:
        """The population mean of the customers' mean spend, p v / (q - 1); infinite when
        q <= 1."""
        return self.p * self.v / (self.q - 1) if self.q > 1 else float("inf")


@dataclass(frozen=True)
class GammaGammaFit:
    params: GammaGammaParams
    log_likelihood: float  # summed over the customers fitted on, without the penalty
    customers: float  # the sum of their weights (customers with x > 0 only)
    converged: bool
    message: str
    iterations: int


def _spend_arrays(frequency: npt.ArrayLike, monetary_value: npt.ArrayLike) -> tuple[Floats, Floats]:
    x, z = np.broadcast_arrays(
        as_floats("frequency", frequency), as_floats("monetary_value", monetary_value)
    )
    if np.any(x < 0) or np.any(x != np.round(x)):
        raise InvalidCustomerSummary("frequency must count repeat purchases: integers >= 0")
    return x.astype(np.float64), z.astype(np.float64)


def log_likelihood(
    params: GammaGammaParams, frequency: npt.ArrayLike, monetary_value: npt.ArrayLike
) -> Floats:
    """Per customer with x > 0, the log density of her mean spend z-bar given x."""
    x, z = _spend_arrays(frequency, monetary_value)
    return _log_likelihood_and_gradient(np.array([params.p, params.q, params.v]), x, z)[0]


def _log_likelihood_and_gradient(theta: Floats, x: Floats, z: Floats) -> tuple[Floats, Floats]:
    """Per customer, ll and its gradient in theta = (p, q, v), rows of shape (3, n)."""
    p, q, v = (float(value) for value in theta)
    # z-bar | nu ~ Gamma(p x, nu x); integrating nu ~ Gamma(q, v) out.
    px = p * x
    log_total = np.log(v + x * z)
    ll = (
        gammaln(px + q)
        - gammaln(px)
        - gammaln(q)
        + q * np.log(v)
        + px * np.log(x)
        + (px - 1) * np.log(z)
        - (px + q) * log_total
    )
    d_p = x * (digamma(px + q) - digamma(px) + np.log(x) + np.log(z) - log_total)
    d_q = digamma(px + q) - digamma(q) + np.log(v) - log_total
    d_v = q / v - (px + q) / (v + x * z)
    return ll, np.stack([d_p, d_q, d_v])


def fit_gamma_gamma(
    frequency: npt.ArrayLike,
    monetary_value: npt.ArrayLike,
    *,
    weights: npt.ArrayLike | None = None,
    penalizer: float = 0.0,
) -> GammaGammaFit:
    """Maximum likelihood estimates of (p, q, v) from the customers with x > 0 (the others are
    left out: their mean spend is not observed). Their mean spend must be > 0: drop or repair
    customers whose repeat purchases sum to nothing (returns, free orders) first.
    ``penalizer`` adds ``penalizer * (p**2 + q**2 + v'**2)`` to the mean negative
    log-likelihood, v' being v in money rescaled so that the median mean spend is 1."""
    if penalizer < 0:
        raise InvalidCustomerSummary("penalizer must be >= 0")
    x, z = (v.ravel() for v in _spend_arrays(frequency, monetary_value))
    w = weights_array(weights, x.size)
    repeat = (x > 0) & (w > 0)
    x, z, w = x[repeat], z[repeat], w[repeat]
    if x.size == 0:
        raise InvalidCustomerSummary(
            "the Gamma-Gamma model needs customers with repeat purchases; there are none"
        )
    if np.any(z <= 0):
        raise InvalidCustomerSummary(
            f"{int(np.sum(z <= 0))} customers with repeat purchases have a mean spend <= 0: "
            "the Gamma-Gamma model needs positive values; drop them or net returns elsewhere"
        )
    scale = float(np.median(z))
    (ux, uz), uw = unique_rows(x, z / scale, weights=w)
    total = float(uw.sum())

    def objective(theta: Floats) -> tuple[float, Floats]:
        ll, grad = _log_likelihood_and_gradient(theta, ux, uz)
        value = -float(uw @ ll) / total + penalizer * float(theta @ theta)
        return value, -(grad @ uw) / total + 2 * penalizer * theta

    optimum = minimise_log_params(objective, np.ones(3))
    p, q, v_scaled = (float(v) for v in optimum.params)
    params = GammaGammaParams(p=p, q=q, v=v_scaled * scale)
    return GammaGammaFit(
        params=params,
        log_likelihood=float(w @ log_likelihood(params, x, z)),
        customers=float(w.sum()),
        converged=optimum.converged,
        message=optimum.message,
        iterations=optimum.iterations,
    )


def expected_average_spend(
    params: GammaGammaParams, frequency: npt.ArrayLike, monetary_value: npt.ArrayLike
) -> Floats:
    """E[Z | x, z-bar] = p (v + x z-bar) / (p x + q - 1): a weighted mean of the population
    mean p v / (q - 1) and the customer's own z-bar, the more hers the more she bought. With
    x = 0 it is the population mean (z-bar is then ignored). Needs q > 1 for x = 0."""
    x, z = _spend_arrays(frequency, monetary_value)
    p, q, v = params.p, params.q, params.v
    result: Floats = p * (v + x * z) / (p * x + q - 1)
    return result
