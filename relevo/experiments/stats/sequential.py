"""Sequential test: always-valid confidence sequences, which stay valid however often the
results are looked at and whenever the experiment is stopped; gbstats 0.8.0's
``SequentialTwoSidedTTest``: the Gaussian mixture (GAVI) boundary of Howard, Ramdas, McAuliffe
and Sekhon (2021), in the asymptotic form of Waudby-Smith et al. (2023,
https://arxiv.org/abs/2103.06476v7, eq. 9, 155 and 161), around the same estimate and delta-
method stddev as the fixed-horizon test (``frequentist``).

With N the units of both arms and x = N rho^2, the half-width is

    stddev * sqrt(2 (x + 1) / x * log(sqrt(x + 1) / alpha))

which is never narrower than the fixed-horizon z interval and shrinks like sqrt(log N / N)
rather than sqrt(1 / N): the price of being allowed to peek. The p-value is the inverse of the
mixture's e-value, capped at 1; it is below alpha exactly when the sequence excludes 0.

The tuning parameter (``sequential_tuning_parameter``, default 5,000 as in GrowthBook) is the
number of units N, both arms together, at which the sequence is tightest: it sets the mixture's
spread, rho = sqrt((-2 log alpha + log(1 - 2 log alpha)) / tuning). Any value keeps the
guarantee; a well-chosen one narrows the intervals. Choose it near the total sample size you
expect when you would like to decide (e.g. a week of the experiment's traffic): set far too
low, the intervals stay wide at the end; far too high, the early looks are wide, so a
large effect is recognised later than it could be.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from relevo.experiments.stats._difference import Reasons, difference, unavailable_reasons
from relevo.experiments.stats.estimates import Difference, Interval, Unavailable, unavailable
from relevo.experiments.stats.moments import ArmMoments, Floats
from relevo.experiments.stats.statistics import Statistic, with_pooled_theta

DEFAULT_TUNING_PARAMETER = 5000.0


def mixture_rho(alpha: float, tuning_parameter: float) -> float:
    """The mixture's spread that makes the sequence tightest at N = ``tuning_parameter``."""
    log_alpha = np.log(alpha)
    return float(np.sqrt((-2 * log_alpha + np.log(-2 * log_alpha + 1)) / tuning_parameter))


@dataclass(frozen=True)
class SequentialArrays:
    """A batch of looks; NaN where ``reason`` is not ""."""

    estimate: Floats
    stddev: Floats
    ci_low: Floats
    ci_high: Floats
    p_value: Floats
    reason: Reasons


# NaN where an arm is empty, degenerate or overflowed; ``reason`` says which.
@np.errstate(all="ignore")
def confidence_sequence_arrays(
    control: ArmMoments,
    treatment: ArmMoments,
    *,
    alpha: float = 0.05,
    difference_type: Difference = "relative",
    tuning_parameter: float = DEFAULT_TUNING_PARAMETER,
) -> SequentialArrays:
    relative = difference_type == "relative"
    reason = unavailable_reasons(control, treatment, relative)
    point, variance = difference(control, treatment, relative)
    units = control.n + treatment.n
    rho = mixture_rho(alpha, tuning_parameter)
    spread = units * rho**2
    stddev = np.sqrt(variance)
    width = stddev * np.sqrt(2 * (spread + 1) / spread * np.log(np.sqrt(spread + 1) / alpha))
    # 1 / e-value, written so that a large e-value underflows to 0 instead of overflowing.
    squared_z = point**2 / variance
    p_value = np.minimum(
        np.exp(-(rho**2) * units * squared_z / (2 * (spread + 1))) * np.sqrt(spread + 1), 1.0
    )
    ok = reason == ""
    nan = np.float64(np.nan)
    return SequentialArrays(
        estimate=np.where(ok, point, nan),
        stddev=np.where(ok, stddev, nan),
        ci_low=np.where(ok, point - width, nan),
        ci_high=np.where(ok, point + width, nan),
        p_value=np.where(ok, p_value, nan),
        reason=reason,
    )


@dataclass(frozen=True)
class SequentialEstimate:
    estimate: float
    stddev: float
    ci: Interval
    p_value: float
    alpha: float
    tuning_parameter: float
    difference_type: Difference


def sequential_test(
    control: Statistic,
    treatment: Statistic,
    *,
    alpha: float = 0.05,
    difference_type: Difference = "relative",
    tuning_parameter: float = DEFAULT_TUNING_PARAMETER,
) -> SequentialEstimate | Unavailable:
    """The always-valid confidence sequence of treatment against control, at this look."""
    control, treatment = with_pooled_theta(control, treatment)
    batch = confidence_sequence_arrays(
        control.moments(),
        treatment.moments(),
        alpha=alpha,
        difference_type=difference_type,
        tuning_parameter=tuning_parameter,
    )
    refused = unavailable(str(batch.reason))
    if refused is not None:
        return refused
    if not np.all(np.isfinite((batch.ci_low, batch.ci_high, batch.p_value))):
        return Unavailable("not_finite")
    return SequentialEstimate(
        estimate=float(batch.estimate),
        stddev=float(batch.stddev),
        ci=Interval(float(batch.ci_low), float(batch.ci_high)),
        p_value=float(batch.p_value),
        alpha=alpha,
        tuning_parameter=tuning_parameter,
        difference_type=difference_type,
    )
