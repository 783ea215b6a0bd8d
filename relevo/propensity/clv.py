"""Customer lifetime value over a finite horizon: the BG/NBD's expected purchases, period by
period, times the Gamma-Gamma's expected spend per purchase, discounted (Fader, Hardie & Lee
2005, "RFM and CLV: using iso-value curves for customer base analysis": value = margin x
expected spend x discounted expected transactions, spend and transactions independent).

Discounting. The paper discounts continuously over an infinite horizon with the Pareto/NBD,
whose DERT has a closed form; the BG/NBD has none. Here, as lifetimes does, the horizon is cut
into equal periods (say 12 months), the purchases expected in period k are exact (differences
of the closed-form E[Y(t)]), and they are discounted as if made at the end of the period, by
(1 + discount_rate) ** -k. A continuous annual rate d corresponds to
discount_rate = (1 + d) ** (1 / periods_per_year) - 1; discounting at the end of each period
rather than when the purchases are made undervalues them by at most a factor 1 + discount_rate.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from relevo.propensity._arrays import Floats
from relevo.propensity.bgnbd import BgNbdParams, expected_purchases
from relevo.propensity.errors import InvalidCustomerSummary
from relevo.propensity.gamma_gamma import GammaGammaParams, expected_average_spend


def discounted_expected_purchases(
    params: BgNbdParams,
    frequency: npt.ArrayLike,
    recency: npt.ArrayLike,
    T: npt.ArrayLike,
    *,
    horizon: float,
    periods: int,
    discount_rate: float,
) -> Floats:
    """Per customer, sum over k = 1..periods of E[purchases in period k] / (1 + rate) ** k,
    the periods splitting (T, T + horizon] evenly (horizon in the model's time unit)."""
    if horizon < 0 or periods < 1 or discount_rate <= -1:
        raise InvalidCustomerSummary(
            "horizon must be >= 0, periods >= 1 and discount_rate > -1 (a rate per period)"
        )
    ends = horizon * np.arange(periods + 1, dtype=np.float64) / periods
    shape = np.broadcast_shapes(np.shape(frequency), np.shape(recency), np.shape(T))
    grid = ends.reshape((periods + 1,) + (1,) * len(shape))
    cumulative = expected_purchases(params, grid, frequency, recency, T)
    per_period = np.diff(cumulative, axis=0)
    factors = (1.0 + discount_rate) ** -np.arange(1, periods + 1, dtype=np.float64)
    result: Floats = np.tensordot(factors, per_period, axes=1)
    return result


def customer_lifetime_value(
    purchases: BgNbdParams,
    spend: GammaGammaParams,
    frequency: npt.ArrayLike,
    recency: npt.ArrayLike,
    T: npt.ArrayLike,
    monetary_value: npt.ArrayLike,
    *,
    horizon: float,
    periods: int,
    discount_rate: float,
    margin: float = 1.0,
) -> Floats:
    """Per customer, margin x E[spend per purchase | x, z-bar] x discounted expected purchases
    over the next ``horizon`` (see the module's note on discounting). With discount_rate = 0 it
    is the expected revenue over the horizon. ``monetary_value`` is the mean repeat spend
    (ignored for customers with x = 0, who get the population mean)."""
    value = expected_average_spend(spend, frequency, monetary_value)
    transactions = discounted_expected_purchases(
        purchases,
        frequency,
        recency,
        T,
        horizon=horizon,
        periods=periods,
        discount_rate=discount_rate,
    )
    result: Floats = margin * value * transactions
    return result
