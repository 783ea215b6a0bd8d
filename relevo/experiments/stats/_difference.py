"""The difference between two arms and its variance, shared by the three engines, and the
reasons a pair of arms cannot be compared; array-valued like ``moments``."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from relevo.experiments.stats.moments import ArmMoments, Floats

Reasons = npt.NDArray[np.str_]


def unavailable_reasons(control: ArmMoments, treatment: ArmMoments, relative: bool) -> Reasons:
    """Per comparison, the first reason it cannot be made, or "" (see ``estimates``)."""
    shape = np.broadcast_shapes(
        *(np.shape(a) for arm in (control, treatment) for a in vars(arm).values())
    )
    no_units = (control.n <= 0) | (treatment.n <= 0)
    too_few = (control.n < 2) | (treatment.n < 2)
    zero_baseline = np.full(shape, False)
    if relative:
        zero_baseline = (control.mean == 0) | (control.unadjusted_mean == 0)
    zero_variance = (control.variance <= 0) | (treatment.variance <= 0)
    # NaN compares false everywhere above; overflowed sums land here.
    not_finite = ~(
        np.isfinite(control.variance)
        & np.isfinite(treatment.variance)
        & np.isfinite(control.mean)
        & np.isfinite(treatment.mean)
    )
    reasons = np.select(
        [no_units, too_few, zero_baseline, zero_variance, not_finite],
        ["no_units", "too_few_units", "zero_baseline", "zero_variance", "not_finite"],
        default="",
    )
    return np.broadcast_to(reasons, shape)


def difference(control: ArmMoments, treatment: ArmMoments, relative: bool) -> tuple[Floats, Floats]:
    """The estimate and its variance. Relative: treatment mean / control mean - 1, by the delta
    method Var(b/a) ~ Var(b) / a^2 + b^2 Var(a) / a^4 (gbstats' ``frequentist_variance``)."""
    a, b = control, treatment
    with np.errstate(all="ignore"):
        if relative:
            point = (b.mean - a.mean) / a.unadjusted_mean
            variance = b.variance / (a.unadjusted_mean**2 * b.n) + a.variance * (
                b.unadjusted_mean**2
            ) / (a.unadjusted_mean**4 * a.n)
        else:
            point = b.mean - a.mean
            variance = b.variance / b.n + a.variance / a.n
    return point, variance


def welch_dof(control: ArmMoments, treatment: ArmMoments) -> Floats:
    """Welch-Satterthwaite degrees of freedom, from the arms' own (absolute) variances."""
    a, b = control, treatment
    with np.errstate(all="ignore"):
        numerator = (b.variance / b.n + a.variance / a.n) ** 2
        denominator = b.variance**2 / (b.n**2 * (b.n - 1)) + a.variance**2 / (a.n**2 * (a.n - 1))
        return numerator / denominator
