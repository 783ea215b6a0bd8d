"""Properties of relevo.experiments.stats over a large input space: any arms, from no units to
ten million, zero variance, and means up to 1e150 (whose squares, near 1e300, are the last
that floating point holds; beyond, the answer must be a refusal, never NaN in JSON).

Narrowed where a property is about the mathematics rather than the input format: the mirror
and nesting properties draw arms whose variance is computable from their sums (means within
1e6 of zero, a spread of at least 1e-3 of the mean), since with 1e150 +- 1 the sums cannot tell
the spread at all and both sides are rounding noise.
"""

from __future__ import annotations

import json
import math

import numpy as np
from hypothesis import assume, given
from hypothesis import strategies as st
from scipy import stats as scipy_stats

from relevo.experiments.stats import (
    BayesianEstimate,
    FrequentistEstimate,
    ProportionStatistic,
    RegressionAdjustedStatistic,
    SampleMeanStatistic,
    SequentialEstimate,
    Statistic,
    Unavailable,
    bayesian_test,
    compare,
    sequential_test,
    welch_t_test,
)

ALPHAS = st.sampled_from([0.001, 0.01, 0.05, 0.1, 0.2])


@st.composite
def proportions(draw: st.DrawFn, max_n: int = 10_000_000) -> ProportionStatistic:
    n = draw(st.integers(0, max_n))
    return ProportionStatistic(n=n, sum=draw(st.integers(0, n)))


@st.composite
def sample_means(
    draw: st.DrawFn, max_mean: float = 1e150, min_spread: float = 0.0
) -> SampleMeanStatistic:
    n = draw(st.integers(0, 10_000_000))
    mean = draw(st.floats(-max_mean, max_mean, allow_subnormal=False))
    sd = abs(mean) * draw(st.floats(min_spread, 10.0)) + draw(st.sampled_from([0.0, 1.0]))
    if n == 0:
        return SampleMeanStatistic(n=0, sum=0.0, sum_squares=0.0)
    # The sums n values of this mean and spread would have.
    return SampleMeanStatistic(n=n, sum=n * mean, sum_squares=(n - 1) * sd**2 + n * mean**2)


ANY_ARMS = st.one_of(
    st.tuples(proportions(), proportions()),
    st.tuples(sample_means(), sample_means()),
)
WELL_SCALED = st.one_of(
    st.tuples(proportions(), proportions()),
    st.tuples(sample_means(1e6, 1e-3), sample_means(1e6, 1e-3)),
)


@given(arms=ANY_ARMS, alpha=ALPHAS, relative=st.booleans())
def test_any_arms_give_an_estimate_or_a_reason_and_json_without_nan(
    arms: tuple[Statistic, Statistic], alpha: float, relative: bool
) -> None:
    result = compare(
        "m", *arms, alpha=alpha, difference_type="relative" if relative else "absolute"
    )
    text = json.dumps(result.view(), allow_nan=False)  # raises on NaN or infinity
    assert "NaN" not in text and "Infinity" not in text
    for engine in (result.frequentist, result.sequential, result.bayesian):
        if isinstance(engine, Unavailable):
            assert engine.message
            continue
        centre = engine.expected if isinstance(engine, BayesianEstimate) else engine.estimate
        assert engine.ci.low <= centre <= engine.ci.high
        assert engine.stddev >= 0
        if isinstance(engine, BayesianEstimate):
            assert 0 <= engine.chance_to_win <= 1
            assert engine.risk_of_control >= 0 and engine.risk_of_treatment >= 0
        else:
            assert 0 <= engine.p_value <= 1


@given(arms=ANY_ARMS)
def test_one_unit_or_none_is_refused_with_its_reason(arms: tuple[Statistic, Statistic]) -> None:
    control, treatment = arms
    result = welch_t_test(control, treatment)
    if min(control.n, treatment.n) == 0:
        assert result == Unavailable("no_units")
    elif min(control.n, treatment.n) == 1:
        assert result == Unavailable("too_few_units")


@given(n=st.integers(2, 10**7), value=st.floats(-1e6, 1e6))
def test_arms_without_variance_are_refused(n: int, value: float) -> None:
    flat = SampleMeanStatistic(n=n, sum=n * value, sum_squares=n * value**2)
    spread = SampleMeanStatistic(n=n, sum=n * value, sum_squares=n * value**2 + n)
    result = welch_t_test(flat, spread, difference_type="absolute")
    # n value^2 - (n value)^2 / n is 0 up to rounding, which may leave it slightly positive:
    # then the arm is tested with a variance of rounding size, an honest reading of its sums.
    if flat.variance <= 0:
        assert result == Unavailable("zero_variance")
    for converted in (0, n):
        assert welch_t_test(
            ProportionStatistic(n=n, sum=converted), ProportionStatistic(n=n, sum=n // 2)
        ) in (Unavailable("zero_variance"), Unavailable("zero_baseline"))


@given(arms=WELL_SCALED, alpha=ALPHAS)
def test_swapping_arms_mirrors_the_difference(
    arms: tuple[Statistic, Statistic], alpha: float
) -> None:
    a, b = arms
    forward = welch_t_test(a, b, alpha=alpha, difference_type="absolute")
    backward = welch_t_test(b, a, alpha=alpha, difference_type="absolute")
    if isinstance(forward, FrequentistEstimate):
        assert isinstance(backward, FrequentistEstimate)
        assert math.isclose(forward.estimate, -backward.estimate, rel_tol=1e-12, abs_tol=1e-300)
        assert math.isclose(forward.ci.low, -backward.ci.high, rel_tol=1e-9, abs_tol=1e-12)
        assert math.isclose(forward.p_value, backward.p_value, rel_tol=1e-9, abs_tol=1e-300)
        bayes_forward, bayes_backward = (
            bayesian_test(x, y, alpha=alpha, difference_type="absolute")
            for x, y in ((a, b), (b, a))
        )
        assert isinstance(bayes_forward, BayesianEstimate)
        assert isinstance(bayes_backward, BayesianEstimate)
        assert math.isclose(bayes_forward.chance_to_win + bayes_backward.chance_to_win, 1)
        assert math.isclose(
            bayes_forward.risk_of_control,
            bayes_backward.risk_of_treatment,
            rel_tol=1e-9,
            abs_tol=1e-300,
        )
    relative_forward, relative_backward = welch_t_test(a, b), welch_t_test(b, a)
    if isinstance(relative_forward, FrequentistEstimate) and isinstance(
        relative_backward, FrequentistEstimate
    ):
        # b / a - 1 and a / b - 1: (1 + r)(1 + r') = 1. Within a factor of 100 either way:
        # beyond, r' is -1 + a tiny number and 1 + r' keeps too few digits to compare.
        assume(0.01 < 1 + relative_forward.estimate < 100)
        product = (1 + relative_forward.estimate) * (1 + relative_backward.estimate)
        assert math.isclose(product, 1, rel_tol=1e-9)


@given(arms=WELL_SCALED, alphas=st.lists(ALPHAS, min_size=2, max_size=2, unique=True))
def test_intervals_nest_by_alpha(arms: tuple[Statistic, Statistic], alphas: list[float]) -> None:
    strict, loose = sorted(alphas)
    for test in (welch_t_test, sequential_test, bayesian_test):
        wide, narrow = test(*arms, alpha=strict), test(*arms, alpha=loose)
        if isinstance(wide, Unavailable):
            assert isinstance(narrow, Unavailable)
            continue
        assert not isinstance(narrow, Unavailable)
        assert wide.ci.low <= narrow.ci.low and narrow.ci.high <= wide.ci.high


@given(arms=WELL_SCALED, alpha=ALPHAS, tuning=st.floats(10, 1e7))
def test_the_confidence_sequence_is_wider_than_a_z_interval_and_agrees_with_its_p(
    arms: tuple[Statistic, Statistic], alpha: float, tuning: float
) -> None:
    result = sequential_test(*arms, alpha=alpha, tuning_parameter=tuning)
    assume(isinstance(result, SequentialEstimate))
    assert isinstance(result, SequentialEstimate)
    z = float(scipy_stats.norm.ppf(1 - alpha / 2))
    # Less two units in the last place: a width below the estimate's resolution rounds away.
    resolution = 2 * math.ulp(result.estimate)
    assert result.ci.high - result.estimate >= z * result.stddev * (1 - 1e-12) - resolution
    excludes_zero = result.ci.low > 0 or result.ci.high < 0
    # Exactly on the boundary (p = alpha, an end at 0) rounding decides either way.
    assume(
        abs(result.p_value - alpha) > 1e-9 and min(abs(result.ci.low), abs(result.ci.high)) > 1e-12
    )
    assert excludes_zero == (result.p_value < alpha)


@given(post=sample_means(1e6, 1e-3))
def test_cuped_without_a_pre_period_changes_nothing(post: SampleMeanStatistic) -> None:
    treatment = SampleMeanStatistic(
        n=post.n, sum=post.sum * 1.01, sum_squares=post.sum_squares * 1.02
    )
    nothing_before = SampleMeanStatistic(n=post.n, sum=0.0, sum_squares=0.0)
    adjusted = [
        RegressionAdjustedStatistic(
            n=arm.n, post_statistic=arm, pre_statistic=nothing_before, post_pre_sum_of_products=0.0
        )
        for arm in (post, treatment)
    ]
    assert welch_t_test(*adjusted) == welch_t_test(post, treatment)


def test_huge_values_are_refused_not_nan() -> None:
    huge = SampleMeanStatistic(n=1_000, sum=1e200 * 1_000, sum_squares=np.inf)
    result = compare("revenue", huge, huge)
    view = result.view()
    json.dumps(view, allow_nan=False)
    assert view["frequentist"]["reason"] == "not_finite"
    assert view["frequentist"]["ci"] is None and view["control"]["stddev"] is None
