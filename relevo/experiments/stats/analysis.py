"""One metric, one variation against control, through every engine at once: what the results
API and the report call for each (metric, variation[, dimension value])."""

from __future__ import annotations

from collections.abc import Mapping

from relevo.experiments.stats.bayesian import FLAT_PRIOR, GaussianPrior, bayesian_test
from relevo.experiments.stats.estimates import Difference
from relevo.experiments.stats.frequentist import welch_t_test
from relevo.experiments.stats.results import ArmSummary, ComparisonResult
from relevo.experiments.stats.sequential import DEFAULT_TUNING_PARAMETER, sequential_test
from relevo.experiments.stats.statistics import (
    RegressionAdjustedStatistic,
    Statistic,
    with_pooled_theta,
)


def compare(
    metric: str,
    control: Statistic,
    variation: Statistic,
    *,
    control_name: str = "control",
    variation_name: str = "variation",
    alpha: float = 0.05,
    difference_type: Difference = "relative",
    tuning_parameter: float = DEFAULT_TUNING_PARAMETER,
    prior: GaussianPrior = FLAT_PRIOR,
    inverse: bool = False,
    dimension: str | None = None,
) -> ComparisonResult:
    """Raises MismatchedStatistics if the arms are different kinds of statistic."""
    adjusted_control, adjusted_variation = with_pooled_theta(control, variation)
    theta = (
        adjusted_control.theta
        if isinstance(adjusted_control, RegressionAdjustedStatistic)
        else None
    )
    return ComparisonResult(
        metric=metric,
        control=_summary(control_name, adjusted_control),
        variation=_summary(variation_name, adjusted_variation),
        difference_type=difference_type,
        alpha=alpha,
        frequentist=welch_t_test(control, variation, alpha=alpha, difference_type=difference_type),
        sequential=sequential_test(
            control,
            variation,
            alpha=alpha,
            difference_type=difference_type,
            tuning_parameter=tuning_parameter,
        ),
        bayesian=bayesian_test(
            control,
            variation,
            alpha=alpha,
            difference_type=difference_type,
            prior=prior,
            inverse=inverse,
        ),
        dimension=dimension,
        cuped_theta=theta,
    )


def compare_arms(
    metric: str,
    arms: Mapping[str, Statistic],
    control: str,
    *,
    alpha: float = 0.05,
    difference_type: Difference = "relative",
    tuning_parameter: float = DEFAULT_TUNING_PARAMETER,
    prior: GaussianPrior = FLAT_PRIOR,
    inverse: bool = False,
    dimension: str | None = None,
) -> list[ComparisonResult]:
    """Each variation against ``control``, in the order of ``arms`` (CUPED's theta pooled per
    pair, as gbstats does)."""
    return [
        compare(
            metric,
            arms[control],
            statistic,
            control_name=control,
            variation_name=name,
            alpha=alpha,
            difference_type=difference_type,
            tuning_parameter=tuning_parameter,
            prior=prior,
            inverse=inverse,
            dimension=dimension,
        )
        for name, statistic in arms.items()
        if name != control
    ]


def _summary(name: str, arm: Statistic) -> ArmSummary:
    return ArmSummary(name=name, units=arm.n, mean=arm.unadjusted_mean, stddev=arm.stddev)
