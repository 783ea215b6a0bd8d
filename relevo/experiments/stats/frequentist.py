"""Fixed-horizon frequentist test: Welch's t-test, two-sided, of the relative uplift
(treatment mean / control mean - 1, delta-method variance) or of the absolute difference;
gbstats 0.8.0's ``TwoSidedTTest``.

    estimate  +- t(1 - alpha / 2, Welch dof) * stddev       the interval
    p         =  2 * P(T_dof > |estimate| / stddev)

Valid once, at the horizon planned in advance: looking every day and stopping at the first
p < alpha makes false positives several times more frequent than alpha (see ``sequential``).

One deliberate difference from gbstats: it refuses an absolute difference when the control's
mean is 0, which needs no division by it; here only the relative uplift does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats as scipy_stats

from relevo.experiments.stats._difference import Reasons, difference, unavailable_reasons, welch_dof
from relevo.experiments.stats.estimates import Difference, Interval, Unavailable, unavailable
from relevo.experiments.stats.moments import ArmMoments, Floats
from relevo.experiments.stats.statistics import Statistic, with_pooled_theta


@dataclass(frozen=True)
class FixedHorizonArrays:
    """A batch of tests; NaN where ``reason`` is not ""."""

    estimate: Floats
    stddev: Floats
    ci_low: Floats
    ci_high: Floats
    p_value: Floats
    dof: Floats
    reason: Reasons


# NaN where an arm is empty, degenerate or overflowed; ``reason`` says which.
@np.errstate(all="ignore")
def welch_t_test_arrays(
    control: ArmMoments,
    treatment: ArmMoments,
    *,
    alpha: float = 0.05,
    difference_type: Difference = "relative",
) -> FixedHorizonArrays:
    relative = difference_type == "relative"
    reason = unavailable_reasons(control, treatment, relative)
    point, variance = difference(control, treatment, relative)
    dof = welch_dof(control, treatment)
    stddev = np.sqrt(variance)
    width = scipy_stats.t.ppf(1 - alpha / 2, dof) * stddev
    # sf rather than gbstats' 1 - cdf: the same number, but keeps p-values below 1e-16.
    p_value = 2 * scipy_stats.t.sf(np.abs(point / stddev), dof)
    ok = reason == ""
    nan = np.float64(np.nan)
    return FixedHorizonArrays(
        estimate=np.where(ok, point, nan),
        stddev=np.where(ok, stddev, nan),
        ci_low=np.where(ok, point - width, nan),
        ci_high=np.where(ok, point + width, nan),
        p_value=np.where(ok, p_value, nan),
        dof=np.where(ok, dof, nan),
        reason=reason,
    )


@dataclass(frozen=True)
class FrequentistEstimate:
    estimate: float
    stddev: float
    ci: Interval
    p_value: float
    dof: float
    alpha: float
    difference_type: Difference


def welch_t_test(
    control: Statistic,
    treatment: Statistic,
    *,
    alpha: float = 0.05,
    difference_type: Difference = "relative",
) -> FrequentistEstimate | Unavailable:
    """Two-sided Welch t-test of treatment against control at level ``alpha``."""
    control, treatment = with_pooled_theta(control, treatment)
    batch = welch_t_test_arrays(
        control.moments(), treatment.moments(), alpha=alpha, difference_type=difference_type
    )
    refused = unavailable(str(batch.reason))
    if refused is not None:
        return refused
    if not np.all(np.isfinite((batch.ci_low, batch.ci_high, batch.p_value))):
        return Unavailable("not_finite")
    return FrequentistEstimate(
        estimate=float(batch.estimate),
        stddev=float(batch.stddev),
        ci=Interval(float(batch.ci_low), float(batch.ci_high)),
        p_value=float(batch.p_value),
        dof=float(batch.dof),
        alpha=alpha,
        difference_type=difference_type,
    )
