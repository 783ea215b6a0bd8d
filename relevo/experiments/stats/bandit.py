"""Adaptive allocation by Thompson sampling: each arm's next share of traffic is the posterior
probability that it is the best, floored by a minimum share per arm, after a burn-in of fixed
weights. The probabilities come from Monte Carlo draws (one matrix, seeded Generator), so the
same statistics and seed give the same weights on every server.

    conversion (ProportionStatistic)   Beta(1 + conversions, 1 + units - conversions)
    revenue (SampleMeanStatistic)      Normal(mean, variance / units), the large-sample
                                       approximation; needs 2 units per arm to start

A bandit spends traffic on the arm that looks best, so its arms' plain means are fine to
report but its p-values are not those of a fixed split: judge its variants by the report
below (regret and uplift), or by an experiment with fixed weights.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from relevo.experiments.stats.errors import InvalidAllocation, MismatchedStatistics
from relevo.experiments.stats.estimates import Interval
from relevo.experiments.stats.moments import Floats, floats
from relevo.experiments.stats.statistics import ProportionStatistic, SampleMeanStatistic

BanditArm = ProportionStatistic | SampleMeanStatistic
DEFAULT_DRAWS = 10_000


@dataclass(frozen=True)
class AllocationPolicy:
    minimum_share: float = 0.05  # no arm starves: each keeps learning
    burn_in_units: int = 100  # per arm, before the weights adapt
    burn_in_weights: tuple[float, ...] | None = None  # None: equal
    draws: int = DEFAULT_DRAWS


@dataclass(frozen=True)
class Allocation:
    weights: tuple[float, ...]
    reason: Literal["burn_in", "thompson"]
    probability_best: tuple[float, ...] | None  # None during the burn-in


def _validate(arms: Sequence[BanditArm], policy: AllocationPolicy) -> None:
    if len(arms) < 2:
        raise InvalidAllocation("a bandit needs two arms or more")
    if len({type(arm) for arm in arms}) != 1:
        raise MismatchedStatistics("every arm of a bandit must be the same kind of statistic")
    if not 0 <= policy.minimum_share * len(arms) <= 1:
        raise InvalidAllocation(
            f"a minimum share of {policy.minimum_share} for {len(arms)} arms is more than all "
            f"the traffic: use at most {1 / len(arms):.4f}"
        )
    if policy.draws < 1 or policy.burn_in_units < 0:
        raise InvalidAllocation("draws must be >= 1 and burn_in_units >= 0")
    weights = policy.burn_in_weights
    if weights is not None and (
        len(weights) != len(arms) or min(weights) < 0 or not np.isclose(sum(weights), 1)
    ):
        raise InvalidAllocation("burn_in_weights need one weight >= 0 per arm, summing to 1")


def posterior_draws(arms: Sequence[BanditArm], draws: int, rng: np.random.Generator) -> Floats:
    """(draws, arms) samples of each arm's mean from its posterior."""
    n = np.array([arm.n for arm in arms], dtype=np.float64)
    total = np.array([arm.sum for arm in arms], dtype=np.float64)
    if isinstance(arms[0], ProportionStatistic):
        samples: Floats = rng.beta(1 + total, 1 + n - total, size=(draws, len(arms)))
        return samples
    means = np.array([arm.mean for arm in arms])
    scales = np.sqrt(np.array([arm.variance for arm in arms]) / np.maximum(n, 1))
    return rng.normal(means, scales, size=(draws, len(arms)))


def _burn_in_units(arms: Sequence[BanditArm], policy: AllocationPolicy) -> int:
    gaussian = isinstance(arms[0], SampleMeanStatistic)
    return max(policy.burn_in_units, 2) if gaussian else policy.burn_in_units


def _probability_best(samples: Floats) -> Floats:
    best = np.argmax(samples, axis=1)
    counts = np.bincount(best, minlength=samples.shape[1])
    return floats(counts) / len(samples)


def thompson_weights(
    arms: Sequence[BanditArm],
    rng: np.random.Generator,
    policy: AllocationPolicy = AllocationPolicy(),
) -> Allocation:
    """The next traffic weights of the arms, summing to 1.

    Raises InvalidAllocation for a policy that cannot be met, MismatchedStatistics for arms
    of different kinds."""
    _validate(arms, policy)
    if min(arm.n for arm in arms) < _burn_in_units(arms, policy):
        fixed = policy.burn_in_weights or tuple([1 / len(arms)] * len(arms))
        return Allocation(weights=tuple(fixed), reason="burn_in", probability_best=None)
    probability = _probability_best(posterior_draws(arms, policy.draws, rng))
    floor = policy.minimum_share
    weights = floor + (1 - floor * len(arms)) * probability
    return Allocation(
        weights=tuple(weights.tolist()),
        reason="thompson",
        probability_best=tuple(probability.tolist()),
    )


@dataclass(frozen=True)
class BanditReport:
    """What adaptive allocation cost and what it found, over the units allocated so far."""

    expected_regret: float  # metric units lost against always playing the best arm
    regret_share: float  # expected_regret / the best arm's expected total
    probability_best: tuple[float, ...]
    best_arm: int  # the most probably best
    best_variant: int  # the most probably best arm other than control
    best_variant_uplift: float  # its posterior mean relative uplift over control
    best_variant_uplift_interval: Interval


def bandit_report(
    arms: Sequence[BanditArm],
    rng: np.random.Generator,
    *,
    control_index: int = 0,
    alpha: float = 0.05,
    draws: int = DEFAULT_DRAWS,
) -> BanditReport:
    """Expected regret: E[sum over arms of units_i * (best mean - mean_i)] under the posterior,
    so it holds what is still uncertain too (identical arms show some regret, which shrinks as
    units grow); uplift: the best variant's mean / control's mean - 1, with its central
    1 - alpha interval."""
    _validate(arms, AllocationPolicy(minimum_share=0.0, draws=draws))
    if not 0 <= control_index < len(arms):
        raise InvalidAllocation(f"control_index {control_index} is not one of the arms")
    samples = posterior_draws(arms, draws, rng)
    units = np.array([arm.n for arm in arms], dtype=np.float64)
    best_mean = samples.max(axis=1)
    regret = (units * (best_mean[:, None] - samples)).sum(axis=1)
    optimum = float(units.sum() * best_mean.mean())
    probability = _probability_best(samples)
    variants = [i for i in range(len(arms)) if i != control_index]
    best_variant = max(variants, key=lambda i: probability[i])
    with np.errstate(all="ignore"):
        uplift = samples[:, best_variant] / samples[:, control_index] - 1
    low, high = np.quantile(uplift, [alpha / 2, 1 - alpha / 2])
    return BanditReport(
        expected_regret=float(regret.mean()),
        regret_share=float(regret.mean()) / optimum if optimum else 0.0,
        probability_best=tuple(probability.tolist()),
        best_arm=int(np.argmax(probability)),
        best_variant=best_variant,
        best_variant_uplift=float(np.mean(uplift)),
        best_variant_uplift_interval=Interval(float(low), float(high)),
    )
