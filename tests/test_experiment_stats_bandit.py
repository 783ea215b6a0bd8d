"""Thompson sampling weights and the regret and uplift report."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats as scipy_stats

from relevo.experiments.stats import (
    AllocationPolicy,
    InvalidAllocation,
    MismatchedStatistics,
    ProportionStatistic,
    SampleMeanStatistic,
    bandit_report,
    thompson_weights,
)


def conversions(*pairs: tuple[int, int]) -> list[ProportionStatistic]:
    return [ProportionStatistic(n=n, sum=s) for n, s in pairs]


def test_burn_in_keeps_the_configured_weights_until_every_arm_has_its_units() -> None:
    policy = AllocationPolicy(burn_in_units=100, burn_in_weights=(0.5, 0.3, 0.2))
    early = thompson_weights(
        conversions((500, 50), (300, 40), (99, 30)), np.random.default_rng(0), policy
    )
    assert early.reason == "burn_in" and early.weights == (0.5, 0.3, 0.2)
    assert early.probability_best is None
    equal = thompson_weights(conversions((0, 0), (0, 0)), np.random.default_rng(0))
    assert equal.weights == (0.5, 0.5)
    later = thompson_weights(
        conversions((500, 50), (300, 40), (100, 30)), np.random.default_rng(0), policy
    )
    assert later.reason == "thompson"


def test_probability_best_matches_the_beta_posteriors() -> None:
    arms = conversions((1_000, 100), (1_000, 115))
    allocation = thompson_weights(
        arms, np.random.default_rng(3), AllocationPolicy(minimum_share=0.0, draws=200_000)
    )
    # P(B > A) for Beta(116, 886) against Beta(101, 901), by numerical integration.
    grid = np.linspace(0.05, 0.2, 20_001)
    a, b = scipy_stats.beta(101, 901), scipy_stats.beta(116, 886)
    exact = float(np.trapezoid(b.pdf(grid) * a.cdf(grid), grid))
    assert allocation.probability_best is not None
    assert allocation.probability_best[1] == pytest.approx(exact, abs=0.005)  # MC error ~0.001
    assert allocation.weights == allocation.probability_best


def test_same_seed_same_weights_and_a_floor_for_every_arm() -> None:
    arms = conversions((2_000, 100), (2_000, 160), (2_000, 90))
    policy = AllocationPolicy(minimum_share=0.1)
    first = thompson_weights(arms, np.random.default_rng(42), policy)
    assert first == thompson_weights(arms, np.random.default_rng(42), policy)
    assert min(first.weights) >= 0.1
    assert first.weights[1] == pytest.approx(1 - 0.2, abs=1e-3)  # the clear winner takes the rest


@given(
    arms=st.lists(st.tuples(st.integers(0, 10**6), st.floats(0, 1)), min_size=2, max_size=6),
    floor=st.floats(0, 0.16),
    seed=st.integers(0, 2**32),
)
def test_weights_are_a_distribution_above_the_floor(
    arms: list[tuple[int, float]], floor: float, seed: int
) -> None:
    stats = [ProportionStatistic(n=n, sum=round(n * rate)) for n, rate in arms]
    policy = AllocationPolicy(minimum_share=floor, burn_in_units=0, draws=500)
    weights = thompson_weights(stats, np.random.default_rng(seed), policy).weights
    assert sum(weights) == pytest.approx(1)
    assert min(weights) >= floor - 1e-12


def test_revenue_arms_use_the_gaussian_posterior() -> None:
    def revenue(n: int, mean: float, sd: float) -> SampleMeanStatistic:
        return SampleMeanStatistic(n=n, sum=n * mean, sum_squares=(n - 1) * sd**2 + n * mean**2)

    arms = [revenue(400, 20.0, 15.0), revenue(400, 23.0, 15.0)]
    allocation = thompson_weights(
        arms, np.random.default_rng(1), AllocationPolicy(minimum_share=0.0, draws=100_000)
    )
    # P(B > A) = Phi(3 / sqrt(2 * 15^2 / 400))
    exact = float(scipy_stats.norm.cdf(3 / np.sqrt(2 * 225 / 400)))
    assert allocation.probability_best is not None
    assert allocation.probability_best[1] == pytest.approx(exact, abs=0.005)
    one_unit = [revenue(1, 20.0, 0.0), revenue(400, 23.0, 15.0)]
    assert (
        thompson_weights(
            one_unit, np.random.default_rng(1), AllocationPolicy(burn_in_units=0)
        ).reason
        == "burn_in"
    )


def test_impossible_policies_and_mixed_arms_are_refused() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(InvalidAllocation, match=r"at most 0\.3333"):
        thompson_weights(
            conversions((10, 1), (10, 1), (10, 1)), rng, AllocationPolicy(minimum_share=0.4)
        )
    with pytest.raises(InvalidAllocation):
        thompson_weights(
            conversions((10, 1), (10, 1)), rng, AllocationPolicy(burn_in_weights=(0.9, 0.2))
        )
    with pytest.raises(MismatchedStatistics):
        thompson_weights(
            [ProportionStatistic(n=1, sum=1), SampleMeanStatistic(n=1, sum=1, sum_squares=1)], rng
        )


def test_report_regret_and_uplift_of_the_best_variant() -> None:
    arms = conversions((5_000, 500), (1_000, 80), (8_000, 960))
    report = bandit_report(arms, np.random.default_rng(9), draws=50_000)
    assert report.best_arm == 2 and report.best_variant == 2
    assert report.probability_best[2] > 0.99
    # Regret ~ units on the worse arms times their gap to the best: 5000 * 0.02 + 1000 * 0.04
    assert report.expected_regret == pytest.approx(5_000 * 0.02 + 1_000 * 0.04, rel=0.1)
    assert 0 < report.regret_share < 0.2
    assert report.best_variant_uplift == pytest.approx(0.2, abs=0.02)  # 12% against 10%
    assert 0.2 in report.best_variant_uplift_interval
    assert report.best_variant_uplift_interval.low > 0.05


def test_report_of_identical_arms_has_small_regret_and_an_uplift_around_zero() -> None:
    report = bandit_report(conversions((4_000, 400), (4_000, 400)), np.random.default_rng(2))
    assert 0.0 in report.best_variant_uplift_interval
    assert report.expected_regret >= 0
    # Not 0: the regret is expected under the posterior, so it holds the arms' uncertainty
    # (E|A - B| / 2 for two arms, ~2.7% of a 10% rate at 4,000 units each).
    assert report.regret_share < 0.04
