"""The frequentist numbers against independent computations on the raw rows.

- absolute difference: scipy.stats.ttest_ind(equal_var=False), the Welch test itself, on the
  rows whose sums the statistics hold: p-value and interval to 1e-9 relative (only the order of
  summation differs: sum of squares minus n mean^2 here, two-pass in scipy)
- relative uplift: the delta-method stddev written out from numpy's means and variances of the
  rows (to 1e-9), and against a bootstrap of 2,000 resamples (to 5%: the bootstrap's own Monte
  Carlo error is about 1 / sqrt(2 * 2000) = 1.6%, the delta method's bias O(1/n) is far
  smaller at n = 4,000)
- ratios: the delta-method variance against the linearisation m - r d computed from the rows
- CUPED: theta against numpy's covariance over both arms pooled; the adjusted variance against
  the variance of post - theta pre row by row
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy import stats as scipy_stats

from relevo.experiments.stats import (
    FrequentistEstimate,
    ProportionStatistic,
    RatioStatistic,
    RegressionAdjustedStatistic,
    SampleMeanStatistic,
    welch_t_test,
    with_pooled_theta,
)

Rows = np.ndarray


def summed(rows: Rows) -> SampleMeanStatistic:
    return SampleMeanStatistic(
        n=rows.size, sum=float(rows.sum()), sum_squares=float((rows**2).sum())
    )


def check_against_scipy(a: Rows, b: Rows, alpha: float, rtol: float) -> None:
    result = welch_t_test(summed(a), summed(b), alpha=alpha, difference_type="absolute")
    assert isinstance(result, FrequentistEstimate)
    reference = scipy_stats.ttest_ind(b, a, equal_var=False)
    ci = reference.confidence_interval(confidence_level=1 - alpha)
    np.testing.assert_allclose(result.estimate, b.mean() - a.mean(), rtol=rtol, atol=1e-12)
    np.testing.assert_allclose(result.p_value, reference.pvalue, rtol=rtol, atol=1e-12)
    np.testing.assert_allclose(result.dof, reference.df, rtol=rtol)
    np.testing.assert_allclose(
        [result.ci.low, result.ci.high], [ci.low, ci.high], rtol=rtol, atol=1e-9
    )


@pytest.mark.parametrize(
    ("n_a", "n_b", "alpha"), [(2, 2, 0.05), (5, 40, 0.1), (300, 290, 0.05), (20_000, 3_000, 0.01)]
)
def test_absolute_welch_matches_scipy_on_raw_rows(n_a: int, n_b: int, alpha: float) -> None:
    rng = np.random.default_rng(n_a + n_b)
    check_against_scipy(rng.gamma(2, 20, n_a), rng.gamma(2.2, 20, n_b), alpha, rtol=1e-9)


@settings(max_examples=200, deadline=None)
@given(
    a=st.lists(st.floats(-1e4, 1e4), min_size=2, max_size=60),
    b=st.lists(st.floats(-1e4, 1e4), min_size=2, max_size=60),
    alpha=st.sampled_from([0.01, 0.05, 0.1, 0.3]),
)
def test_absolute_welch_matches_scipy_for_any_rows(
    a: list[float], b: list[float], alpha: float
) -> None:
    rows_a, rows_b = np.array(a), np.array(b)
    # Sums and sums of squares are what the database hands over; from them the variance
    # is sum_squares - n mean^2, which loses the digits of a spread far below the values'
    # size. That is the input format's limit, not the test's: keep the spread above 1e-4 of
    # the values' scale (a coefficient of variation of 0.01%) so both sides keep 1e-6.
    for rows in (rows_a, rows_b):
        assume(rows.std() > 1e-4 * max(1.0, float(np.abs(rows).max())))
    check_against_scipy(rows_a, rows_b, alpha, rtol=1e-6)


def test_relative_uplift_delta_method_written_out_and_bootstrapped() -> None:
    rng = np.random.default_rng(7)
    a = rng.lognormal(3, 0.8, 4_000)
    b = rng.lognormal(3.05, 0.8, 4_000)
    result = welch_t_test(summed(a), summed(b))
    assert isinstance(result, FrequentistEstimate)
    # Var(mean_b / mean_a) ~ Var(mean_b) / mean_a^2 + mean_b^2 Var(mean_a) / mean_a^4
    var_a, var_b = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    direct = np.sqrt(var_b / a.mean() ** 2 + b.mean() ** 2 * var_a / a.mean() ** 4)
    np.testing.assert_allclose(result.estimate, b.mean() / a.mean() - 1, rtol=1e-9)
    np.testing.assert_allclose(result.stddev, direct, rtol=1e-9)

    boot = []
    for _ in range(10):  # 10 x 200 resamples, to keep memory small
        mean_a = a[rng.integers(0, a.size, (200, a.size))].mean(axis=1)
        mean_b = b[rng.integers(0, b.size, (200, b.size))].mean(axis=1)
        boot.append(mean_b / mean_a - 1)
    np.testing.assert_allclose(result.stddev, np.std(np.concatenate(boot), ddof=1), rtol=0.05)


def test_relative_uplift_of_conversions_matches_the_binomial_delta_method() -> None:
    control, treatment = (
        ProportionStatistic(n=10_000, sum=1_000),
        ProportionStatistic(n=9_000, sum=990),
    )
    result = welch_t_test(control, treatment, alpha=0.05)
    assert isinstance(result, FrequentistEstimate)
    p_a, p_b = 0.1, 0.11
    stddev = np.sqrt(p_b * (1 - p_b) / 9_000 / p_a**2 + p_b**2 * p_a * (1 - p_a) / 10_000 / p_a**4)
    np.testing.assert_allclose(result.estimate, 0.1, rtol=1e-12)
    np.testing.assert_allclose(result.stddev, stddev, rtol=1e-12)
    assert result.ci.low < 0.1 < result.ci.high


def test_ratio_variance_is_the_linearised_variance_of_the_rows() -> None:
    rng = np.random.default_rng(3)
    orders = rng.poisson(1.5, 5_000).astype(float)
    revenue = orders * rng.gamma(2, 30, 5_000)
    arm = RatioStatistic(
        n=5_000,
        m_statistic=summed(revenue),
        d_statistic=summed(orders),
        m_d_sum_of_products=float((revenue * orders).sum()),
    )
    ratio = revenue.sum() / orders.sum()
    # Delta method: m/d - r ~ (m - r d) / mean(d), row by row.
    linearised = (revenue - ratio * orders) / orders.mean()
    np.testing.assert_allclose(arm.mean, ratio, rtol=1e-12)
    np.testing.assert_allclose(arm.variance, linearised.var(ddof=1), rtol=1e-9)


def test_cuped_theta_is_pooled_and_shrinks_the_variance() -> None:
    rng = np.random.default_rng(5)

    def rows(size: int, lift: float) -> tuple[Rows, Rows]:
        pre = rng.normal(50, 10, size)
        return 50 + lift + 0.8 * (pre - 50) + rng.normal(0, 6, size), pre

    (post_a, pre_a), (post_b, pre_b) = rows(3_000, 0.0), rows(3_000, 1.0)

    def arm(post: Rows, pre: Rows) -> RegressionAdjustedStatistic:
        return RegressionAdjustedStatistic(
            n=post.size,
            post_statistic=summed(post),
            pre_statistic=summed(pre),
            post_pre_sum_of_products=float((post * pre).sum()),
        )

    control, treatment = with_pooled_theta(arm(post_a, pre_a), arm(post_b, pre_b))
    assert isinstance(control, RegressionAdjustedStatistic)
    post, pre = np.concatenate([post_a, post_b]), np.concatenate([pre_a, pre_b])
    theta = np.cov(post, pre, ddof=1)[0, 1] / pre.var(ddof=1)
    np.testing.assert_allclose(control.theta, theta, rtol=1e-9)
    np.testing.assert_allclose(control.variance, (post_a - theta * pre_a).var(ddof=1), rtol=1e-9)

    adjusted = welch_t_test(control, treatment, difference_type="absolute")
    plain = welch_t_test(summed(post_a), summed(post_b), difference_type="absolute")
    assert isinstance(adjusted, FrequentistEstimate) and isinstance(plain, FrequentistEstimate)
    # Correlation 0.8: the variance falls by about 1 - 0.8^2 / (0.8^2 + 0.6^2) = 64%.
    assert adjusted.stddev < 0.7 * plain.stddev
    assert adjusted.ci.low < 1.0 < adjusted.ci.high
