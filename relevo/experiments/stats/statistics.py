"""Sufficient statistics of one arm, as the aggregation layer produces them (counts, sums, sums
of squares, sums of cross products), mirroring gbstats 0.8.0's statistics of the same names.

    SampleMeanStatistic(n, sum, sum_squares)          revenue per visitor, items per order
    ProportionStatistic(n, sum)                       conversion: sum = units that converted
    RatioStatistic(n, m_statistic, d_statistic, m_d_sum_of_products)
                                                      average order value = revenue / orders
    RegressionAdjustedStatistic(n, post_statistic, pre_statistic,
                                post_pre_sum_of_products, theta)
                                                      CUPED, the pre-exposure window's value
                                                      as the covariate

Plain numbers in, frozen: a comparison never changes what it was given (gbstats writes the
pooled theta into its inputs; ``with_pooled_theta`` returns new ones instead).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from relevo.experiments.stats.errors import MismatchedStatistics
from relevo.experiments.stats.moments import (
    ArmMoments,
    MetricSums,
    pooled_theta,
    proportion_sums,
    ratio_moments,
    regression_adjusted_moments,
    sample_mean_sums,
)


class _Described:
    """mean, unadjusted mean, variance and stddev of one unit, from ``moments()``."""

    n: int

    def moments(self) -> ArmMoments:
        raise NotImplementedError

    @property
    def mean(self) -> float:
        return float(self.moments().mean)

    @property
    def unadjusted_mean(self) -> float:
        return float(self.moments().unadjusted_mean)

    @property
    def variance(self) -> float:
        return float(self.moments().variance)

    @property
    def stddev(self) -> float:
        variance = self.variance
        if not math.isfinite(variance):
            return math.nan  # overflowed sums: the view shows None, the tests refuse them
        return math.sqrt(variance) if variance > 0 else 0.0


@dataclass(frozen=True)
class SampleMeanStatistic(_Described):
    n: int
    sum: float
    sum_squares: float

    def sums(self) -> MetricSums:
        return sample_mean_sums(self.n, self.sum, self.sum_squares)

    def moments(self) -> ArmMoments:
        return self.sums().moments()


@dataclass(frozen=True)
class ProportionStatistic(_Described):
    n: int
    sum: float

    @property
    def sum_squares(self) -> float:
        return self.sum

    def sums(self) -> MetricSums:
        return proportion_sums(self.n, self.sum)

    def moments(self) -> ArmMoments:
        return self.sums().moments()


BaseStatistic = SampleMeanStatistic | ProportionStatistic


@dataclass(frozen=True)
class RatioStatistic(_Described):
    n: int
    m_statistic: BaseStatistic
    d_statistic: BaseStatistic
    m_d_sum_of_products: float

    def moments(self) -> ArmMoments:
        return ratio_moments(
            self.n, self.m_statistic.sums(), self.d_statistic.sums(), self.m_d_sum_of_products
        )


@dataclass(frozen=True)
class RegressionAdjustedStatistic(_Described):
    n: int
    post_statistic: BaseStatistic
    pre_statistic: BaseStatistic
    post_pre_sum_of_products: float
    # Comparisons replace it by the estimate pooled over both arms (with_pooled_theta).
    theta: float = 0.0

    def moments(self) -> ArmMoments:
        return regression_adjusted_moments(
            self.n,
            self.post_statistic.sums(),
            self.pre_statistic.sums(),
            self.post_pre_sum_of_products,
            self.theta,
        )


Statistic = SampleMeanStatistic | ProportionStatistic | RatioStatistic | RegressionAdjustedStatistic


def _same_kind(control: Statistic, treatment: Statistic) -> None:
    if type(control) is not type(treatment):
        raise MismatchedStatistics(
            f"control is a {type(control).__name__} but the variation a "
            f"{type(treatment).__name__}: aggregate both arms of a metric the same way"
        )
    if isinstance(control, RegressionAdjustedStatistic) and isinstance(
        treatment, RegressionAdjustedStatistic
    ):
        for part in ("post_statistic", "pre_statistic"):
            if type(getattr(control, part)) is not type(getattr(treatment, part)):
                raise MismatchedStatistics(
                    f"the arms' {part} differ in kind: aggregate both arms the same way"
                )


def with_pooled_theta(control: Statistic, treatment: Statistic) -> tuple[Statistic, Statistic]:
    """Both arms with CUPED's theta estimated over both (unchanged if not CUPED).

    Raises MismatchedStatistics if the arms are not the same kind of statistic."""
    _same_kind(control, treatment)
    if not (
        isinstance(control, RegressionAdjustedStatistic)
        and isinstance(treatment, RegressionAdjustedStatistic)
    ):
        return control, treatment
    theta = float(
        pooled_theta(
            control.post_statistic.sums(),
            control.pre_statistic.sums(),
            control.post_pre_sum_of_products,
            treatment.post_statistic.sums(),
            treatment.pre_statistic.sums(),
            treatment.post_pre_sum_of_products,
        )
    )
    return replace(control, theta=theta), replace(treatment, theta=theta)
