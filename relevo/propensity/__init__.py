"""Propensity and lifetime value: the reference buy-till-you-die models, pure numpy/scipy.

    rfm          orders table (polars) -> per-customer (frequency, recency, T, monetary value)
    bgnbd        BG/NBD: fit (r, alpha, a, b); P(alive), P(purchase within t), E[purchases]
    gamma_gamma  Gamma-Gamma: fit (p, q, v) on mean repeat spend; E[spend per purchase]
    clv          both combined: discounted expected revenue over a horizon
    errors       PropensityError > InvalidCustomerSummary

No I/O and no storage: callers bring summaries as arrays (or an orders DataFrame to rfm) and
keep the fitted parameters (``as_dict()``) where they keep models.
"""

from relevo.propensity.bgnbd import (
    BgNbdFit,
    BgNbdParams,
    expected_cumulative_repeat_purchases,
    expected_purchases,
    expected_repeat_purchases,
    fit_bgnbd,
    probability_alive,
    probability_of_purchase,
    probability_of_repeat_purchases,
)
from relevo.propensity.clv import customer_lifetime_value, discounted_expected_purchases
from relevo.propensity.errors import InvalidCustomerSummary, PropensityError
from relevo.propensity.gamma_gamma import (
    GammaGammaFit,
    GammaGammaParams,
    expected_average_spend,
    fit_gamma_gamma,
)
from relevo.propensity.rfm import calibration_and_holdout, customer_summary

__all__ = [
    "BgNbdFit",
    "BgNbdParams",
    "GammaGammaFit",
    "GammaGammaParams",
    "InvalidCustomerSummary",
    "PropensityError",
    "calibration_and_holdout",
    "customer_lifetime_value",
    "customer_summary",
    "discounted_expected_purchases",
    "expected_average_spend",
    "expected_cumulative_repeat_purchases",
    "expected_purchases",
    "expected_repeat_purchases",
    "fit_bgnbd",
    "fit_gamma_gamma",
    "probability_alive",
    "probability_of_purchase",
    "probability_of_repeat_purchases",
]
