"""Bayesian engine: gbstats 0.8.0's ``EffectBayesianABTest``. The effect (relative uplift, or
absolute difference) has a normal likelihood centred on the same estimate and delta-method
variance as the frequentist test; with a proper Gaussian prior on the effect (on the relative
scale, as GrowthBook's metric settings give it) the posterior is the precision-weighted blend,
and with the default improper (flat) prior it is the likelihood itself.

    chance to win  P(effect > 0)  (P(effect < 0) for an inverse metric: lower is better)
    risk           expected loss of choosing each arm:
                   control    E[max(effect, 0)] = mu Phi(mu / s) + s phi(mu / s)
                   treatment  E[max(-effect, 0)] = -mu Phi(-mu / s) + s phi(mu / s)
                   (gbstats computes the same through truncated-normal means)
    interval       the central 1 - alpha credible interval
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats as scipy_stats

from relevo.experiments.stats._difference import Reasons, difference, unavailable_reasons
from relevo.experiments.stats.estimates import Difference, Interval, Unavailable, unavailable
from relevo.experiments.stats.moments import ArmMoments, Floats, floats
from relevo.experiments.stats.statistics import Statistic, with_pooled_theta


@dataclass(frozen=True)
class GaussianPrior:
    """A prior on the relative effect. Improper (flat) unless ``proper``; mean 0 and stddev
    0.1 (a 10% uplift is one stddev away) are GrowthBook's metric defaults."""

    mean: float = 0.0
    variance: float = 0.01
    proper: bool = False


FLAT_PRIOR = GaussianPrior()


@dataclass(frozen=True)
class BayesianArrays:
    """A batch of posteriors; NaN where ``reason`` is not ""."""

    expected: Floats
    stddev: Floats
    ci_low: Floats
    ci_high: Floats
    chance_to_win: Floats
    risk_of_control: Floats
    risk_of_treatment: Floats
    reason: Reasons


# NaN where an arm is empty, degenerate or overflowed; ``reason`` says which.
@np.errstate(all="ignore")
def posterior_arrays(
    control: ArmMoments,
    treatment: ArmMoments,
    *,
    alpha: float = 0.05,
    difference_type: Difference = "relative",
    prior: GaussianPrior = FLAT_PRIOR,
    inverse: bool = False,
) -> BayesianArrays:
    relative = difference_type == "relative"
    reason = unavailable_reasons(control, treatment, relative)
    data_mean, data_variance = difference(control, treatment, relative)
    prior_mean, prior_variance = floats(prior.mean), floats(prior.variance)
    if not relative:
        # The prior is on the relative scale: the control's mean takes it to absolute units.
        prior_mean = prior_mean * np.abs(control.unadjusted_mean)
        prior_variance = prior_variance * control.unadjusted_mean**2
    if prior.proper:
        precision = 1 / data_variance + 1 / prior_variance
        mean = (data_mean / data_variance + prior_mean / prior_variance) / precision
    else:
        precision = 1 / data_variance
        mean = data_mean
    stddev = np.sqrt(1 / precision)
    z = mean / stddev
    chance_up = scipy_stats.norm.sf(-z)
    density = stddev * scipy_stats.norm.pdf(z)
    # Both are >= 0; far in a tail the two terms cancel and rounding could dip below.
    loss_if_control = np.maximum(mean * scipy_stats.norm.cdf(z) + density, 0.0)
    loss_if_treatment = np.maximum(-mean * scipy_stats.norm.cdf(-z) + density, 0.0)
    quantile = scipy_stats.norm.ppf(1 - alpha / 2)
    if inverse:
        chance = 1 - chance_up
        loss_if_control, loss_if_treatment = loss_if_treatment, loss_if_control
    else:
        chance = chance_up
    ok = reason == ""
    nan = np.float64(np.nan)
    return BayesianArrays(
        expected=np.where(ok, mean, nan),
        stddev=np.where(ok, stddev, nan),
        ci_low=np.where(ok, mean - quantile * stddev, nan),
        ci_high=np.where(ok, mean + quantile * stddev, nan),
        chance_to_win=np.where(ok, chance, nan),
        risk_of_control=np.where(ok, loss_if_control, nan),
        risk_of_treatment=np.where(ok, loss_if_treatment, nan),
        reason=reason,
    )


@dataclass(frozen=True)
class BayesianEstimate:
    expected: float
    stddev: float
    ci: Interval
    chance_to_win: float
    risk_of_control: float  # expected loss if control is kept and the treatment was better
    risk_of_treatment: float  # expected loss if the treatment is shipped and it was worse
    alpha: float
    difference_type: Difference


def bayesian_test(
    control: Statistic,
    treatment: Statistic,
    *,
    alpha: float = 0.05,
    difference_type: Difference = "relative",
    prior: GaussianPrior = FLAT_PRIOR,
    inverse: bool = False,
) -> BayesianEstimate | Unavailable:
    """Chance to beat control, each arm's risk and the credible interval of the effect."""
    control, treatment = with_pooled_theta(control, treatment)
    batch = posterior_arrays(
        control.moments(),
        treatment.moments(),
        alpha=alpha,
        difference_type=difference_type,
        prior=prior,
        inverse=inverse,
    )
    refused = unavailable(str(batch.reason))
    if refused is not None:
        return refused
    numbers = (batch.ci_low, batch.ci_high, batch.risk_of_control, batch.risk_of_treatment)
    if not np.all(np.isfinite(numbers)):
        return Unavailable("not_finite")
    return BayesianEstimate(
        expected=float(batch.expected),
        stddev=float(batch.stddev),
        ci=Interval(float(batch.ci_low), float(batch.ci_high)),
        chance_to_win=float(batch.chance_to_win),
        risk_of_control=float(batch.risk_of_control),
        risk_of_treatment=float(batch.risk_of_treatment),
        alpha=alpha,
        difference_type=difference_type,
    )
