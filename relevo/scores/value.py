"""Expected revenue over the next months per customer: the BG/NBD's expected orders times the
Gamma-Gamma's expected value per order (relevo.propensity), undiscounted, in weeks as the
literature fits them. Customers' summaries follow the CDNOW conventions (relevo.propensity.rfm):
days of order, the first left out of the mean repeat value."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import polars as pl

from relevo.propensity import (
    BgNbdParams,
    GammaGammaParams,
    PropensityError,
    customer_lifetime_value,
    fit_bgnbd,
    fit_gamma_gamma,
)
from relevo.scores.features import DAY_MS, order_days

Floats = npt.NDArray[np.float64]
WEEK_DAYS = 7.0


@dataclass(frozen=True)
class ValueModel:
    purchases: BgNbdParams
    spend: GammaGammaParams


@dataclass(frozen=True)
class Summaries:
    ids: list[str]
    frequency: Floats
    recency: Floats  # weeks
    T: Floats  # weeks
    monetary_value: Floats  # mean value of the repeat days; 0 without one


def summaries(orders: pl.DataFrame, cutoff_ms: int) -> Summaries:
    days = order_days(orders, cutoff_ms)
    now = cutoff_ms / DAY_MS
    per = (
        days.group_by("customer_id")
        .agg(
            (pl.len() - 1).alias("x"),
            (pl.col("day").max() - pl.col("day").min()).alias("t_x"),
            (pl.lit(now) - pl.col("day").min()).alias("T"),
            (pl.col("value").sum() - pl.col("value").first()).alias("repeat_value"),
        )
        .sort("customer_id")
    )
    x = per["x"].cast(pl.Float64).to_numpy()
    repeat = per["repeat_value"].cast(pl.Float64).to_numpy()
    mean = np.divide(repeat, x, out=np.zeros_like(x), where=x > 0)
    return Summaries(
        per["customer_id"].to_list(),
        x,
        per["t_x"].cast(pl.Float64).to_numpy() / WEEK_DAYS,
        per["T"].cast(pl.Float64).to_numpy() / WEEK_DAYS,
        mean,
    )


def fit_value(data: Summaries) -> ValueModel | None:
    """None when the shop's orders cannot identify the models (no repeat customer, or no
    repeat customer with a positive spend)."""
    spenders = (data.frequency > 0) & (data.monetary_value > 0)
    try:
        purchases = fit_bgnbd(data.frequency, data.recency, data.T, penalizer=0.001).params
        spend = fit_gamma_gamma(
            data.frequency[spenders], data.monetary_value[spenders], penalizer=0.001
        ).params
    except PropensityError:
        return None
    if spend.q <= 1:  # the population mean spend is infinite: no value to give
        return None
    return ValueModel(purchases, spend)


def expected_revenue(model: ValueModel, data: Summaries, days: float) -> Floats:
    """Expected revenue over the next ``days``; a customer without a repeat order is given the
    population's mean spend per order."""
    return customer_lifetime_value(
        model.purchases,
        model.spend,
        data.frequency,
        data.recency,
        data.T,
        np.maximum(data.monetary_value, 0.0),
        horizon=days / WEEK_DAYS,
        periods=12,
        discount_rate=0.0,
    )
