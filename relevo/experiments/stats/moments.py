"""The formulas that turn an arm's sums into what every test needs: its units, its mean, the
mean before CUPED, and the variance of one unit's value (not of the mean).

Array-valued, so that one comparison (0-d arrays) and a batch of simulated ones (any shape,
broadcast) go through the same lines; the frozen statistics in ``statistics.py`` call these.
Each formula is gbstats 0.8.0's (``gbstats/models/statistics.py``), including its conventions:
a proportion's variance is p(1 - p) with no n - 1 correction, and a statistic of n <= 1 has
variance 0 (so tests refuse it rather than divide by n - 1 = 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]


def floats(value: npt.ArrayLike) -> Floats:
    return np.asarray(value, dtype=np.float64)


@dataclass(frozen=True)
class ArmMoments:
    """One arm as the tests see it; every field broadcasts against the others."""

    n: Floats
    mean: Floats  # CUPED-adjusted where the arm is regression adjusted
    unadjusted_mean: Floats  # the relative uplift divides by this one
    variance: Floats  # of one unit's value


@dataclass(frozen=True)
class MetricSums:
    """A plain metric's per-unit sums: the parts of ratios and of CUPED."""

    n: Floats
    total: Floats
    sum_squares: Floats
    is_proportion: bool

    @property
    def mean(self) -> Floats:
        with np.errstate(all="ignore"):
            return np.where(self.n == 0, 0.0, self.total / self.n)

    @property
    def variance(self) -> Floats:
        mean = self.mean
        if self.is_proportion:
            return mean * (1 - mean)
        with np.errstate(all="ignore"):
            sample = (self.sum_squares - self.total**2 / self.n) / (self.n - 1)
        return np.where(self.n <= 1, 0.0, sample)

    def moments(self) -> ArmMoments:
        mean = self.mean
        return ArmMoments(n=self.n, mean=mean, unadjusted_mean=mean, variance=self.variance)


def sample_mean_sums(
    n: npt.ArrayLike, total: npt.ArrayLike, sum_squares: npt.ArrayLike
) -> MetricSums:
    return MetricSums(floats(n), floats(total), floats(sum_squares), is_proportion=False)


def proportion_sums(n: npt.ArrayLike, total: npt.ArrayLike) -> MetricSums:
    # gbstats: a 0/1 value is its own square.
    return MetricSums(floats(n), floats(total), floats(total), is_proportion=True)


def _covariance(n: Floats, x: MetricSums, y: MetricSums, sum_of_products: Floats) -> Floats:
    with np.errstate(all="ignore"):
        value = (sum_of_products - x.total * y.total / n) / (n - 1)
    return np.where(n <= 1, 0.0, value)


def ratio_moments(
    n: npt.ArrayLike,
    numerator: MetricSums,
    denominator: MetricSums,
    sum_of_products: npt.ArrayLike,
) -> ArmMoments:
    """A ratio of two per-unit sums (revenue per order, clicks per view), its variance by the
    delta method: Var(m/d) ~ Var m / d^2 - 2 Cov(m, d) m / d^3 + m^2 Var d / d^4."""
    units = floats(n)
    covariance = _covariance(units, numerator, denominator, floats(sum_of_products))
    m, d = numerator.mean, denominator.mean
    with np.errstate(all="ignore"):
        mean = np.where(denominator.total == 0, 0.0, numerator.total / denominator.total)
        delta = (
            numerator.variance / d**2
            - 2 * covariance * m / d**3
            + m**2 * denominator.variance / d**4
        )
    variance = np.where((d == 0) | (units <= 1), 0.0, delta)
    return ArmMoments(n=units, mean=mean, unadjusted_mean=mean, variance=variance)


def regression_adjusted_moments(
    n: npt.ArrayLike,
    post: MetricSums,
    pre: MetricSums,
    sum_of_products: npt.ArrayLike,
    theta: npt.ArrayLike,
) -> ArmMoments:
    """CUPED: the post-exposure value minus theta times the pre-exposure one, whose mean and
    variance follow from the sums without the rows."""
    units, slope = floats(n), floats(theta)
    covariance = _covariance(units, post, pre, floats(sum_of_products))
    with np.errstate(all="ignore"):
        variance = post.variance + slope**2 * pre.variance - 2 * slope * covariance
        mean = post.mean - slope * pre.mean
    return ArmMoments(
        n=units,
        mean=mean,
        unadjusted_mean=post.mean,
        variance=np.where(units <= 1, 0.0, variance),
    )


def pooled_theta(
    control_post: MetricSums,
    control_pre: MetricSums,
    control_products: npt.ArrayLike,
    treatment_post: MetricSums,
    treatment_pre: MetricSums,
    treatment_products: npt.ArrayLike,
) -> Floats:
    """CUPED's theta, Cov(post, pre) / Var(pre), over both arms pooled (as gbstats'
    ``compute_theta``): one slope for both keeps the adjusted difference unbiased. 0 where
    either pooled variance is 0 (the adjustment then changes nothing)."""
    with np.errstate(all="ignore"):
        n = control_post.n + treatment_post.n
        joint_post = MetricSums(
            n,
            control_post.total + treatment_post.total,
            control_post.sum_squares + treatment_post.sum_squares,
            control_post.is_proportion,
        )
        joint_pre = MetricSums(
            n,
            control_pre.total + treatment_pre.total,
            control_pre.sum_squares + treatment_pre.sum_squares,
            control_pre.is_proportion,
        )
        products = floats(control_products) + floats(treatment_products)
        covariance = _covariance(n, joint_post, joint_pre, products)
        pre_variance, post_variance = joint_pre.variance, joint_post.variance
        theta = covariance / pre_variance
    return np.where((pre_variance == 0) | (post_variance == 0), 0.0, theta)
