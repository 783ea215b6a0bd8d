"""Sample-ratio mismatch, Benjamini-Hochberg over a breakdown, and the results' JSON view."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats as scipy_stats

from relevo.experiments.stats import (
    SRM_P_VALUE_THRESHOLD,
    FrequentistEstimate,
    MismatchedStatistics,
    ProportionStatistic,
    RegressionAdjustedStatistic,
    SampleMeanStatistic,
    StatisticsInputError,
    adjust_breakdown,
    benjamini_hochberg,
    compare,
    compare_arms,
    sample_ratio_check,
)

# --- SRM -------------------------------------------------------------------------------------


def test_a_skewed_split_is_flagged_and_a_fair_one_is_not() -> None:
    skewed = sample_ratio_check([10_000, 10_600], [0.5, 0.5])
    assert skewed.flagged and skewed.p_value < SRM_P_VALUE_THRESHOLD
    assert skewed.p_value == pytest.approx(scipy_stats.chisquare([10_000, 10_600]).pvalue)
    fair = sample_ratio_check([10_000, 10_100], [0.5, 0.5])
    assert not fair.flagged and fair.p_value > 0.4
    assert SRM_P_VALUE_THRESHOLD == 0.001


def test_srm_with_unequal_weights_and_an_arm_switched_off() -> None:
    assert not sample_ratio_check([9_050, 950], [0.9, 0.1]).flagged
    assert sample_ratio_check([8_800, 1_200], [0.9, 0.1]).flagged
    # Weight 0 (an arm switched off): no part of the test, unless it still gets units.
    assert not sample_ratio_check([5_010, 4_990, 0], [1, 1, 0]).flagged
    assert sample_ratio_check([5_000, 5_000, 3], [1, 1, 0]).flagged
    assert sample_ratio_check([0, 0], [0.5, 0.5]).p_value == 1.0
    with pytest.raises(StatisticsInputError):
        sample_ratio_check([10, 10], [0.5])


@given(
    weights=st.lists(st.integers(1, 1_000), min_size=2, max_size=8),
    scale=st.integers(1, 10_000),
    unit=st.sampled_from([1.0, 0.01, 3.7]),
)
def test_an_exact_split_is_never_flagged(weights: list[int], scale: int, unit: float) -> None:
    observed = [w * scale for w in weights]
    check = sample_ratio_check(observed, [w * unit for w in weights])  # any weight scale
    assert not check.flagged
    assert check.p_value > 0.999


# --- Benjamini-Hochberg ----------------------------------------------------------------------


@given(st.lists(st.floats(0, 1), min_size=1, max_size=50))
def test_bh_adjusted_p_values_are_no_smaller_and_keep_the_order(p_values: list[float]) -> None:
    adjusted = benjamini_hochberg(p_values)
    assert len(adjusted) == len(p_values)
    for raw, adj in zip(p_values, adjusted, strict=True):
        assert raw <= adj <= 1
    order = np.argsort(p_values, kind="stable")
    assert all(np.diff(np.asarray(adjusted)[order]) >= 0)
    # Permuting the inputs permutes the outputs.
    assert benjamini_hochberg(p_values[::-1]) == adjusted[::-1]


def test_bh_known_values() -> None:
    # Benjamini & Hochberg (1995) step-up: p_(i) * m / i, made monotone from the top.
    # Sorted .01 .03 .04 .2 -> .04 .06 .0533 .2 -> monotone: .04 .0533 .0533 .2
    expected = [0.04, 0.16 / 3, 0.16 / 3, 0.2]
    assert benjamini_hochberg([0.01, 0.04, 0.03, 0.2]) == pytest.approx(expected)
    assert benjamini_hochberg([]) == []


def test_a_breakdown_gets_adjusted_p_values_where_it_has_p_values() -> None:
    control = SampleMeanStatistic(n=1_000, sum=10_000, sum_squares=10_000 * 10 + 999 * 9)
    rng = np.random.default_rng(1)
    results = []
    for device in ("mobile", "desktop", "tablet"):
        mean = 10 + rng.normal(0, 0.2)
        variation = SampleMeanStatistic(
            n=1_000, sum=mean * 1_000, sum_squares=mean**2 * 1_000 + 999 * 9
        )
        results.append(compare("revenue", control, variation, dimension=f"device={device}"))
    empty = ProportionStatistic(n=0, sum=0)
    results.append(compare("revenue", empty, empty, dimension="device=tv"))
    adjusted = adjust_breakdown(results)
    raw = [
        r.frequentist.p_value for r in results[:3] if isinstance(r.frequentist, FrequentistEstimate)
    ]
    assert len(raw) == 3
    assert [r.adjusted_p_value for r in adjusted[:3]] == pytest.approx(benjamini_hochberg(raw))
    assert adjusted[3].adjusted_p_value is None
    assert adjusted[0].view()["frequentist"]["adjusted_p_value"] == adjusted[0].adjusted_p_value


# --- the results object ----------------------------------------------------------------------


def test_view_of_a_conversion_experiment() -> None:
    result = compare(
        "purchase",
        ProportionStatistic(n=20_000, sum=1_000),
        ProportionStatistic(n=20_000, sum=1_120),
        control_name="A",
        variation_name="B",
    )
    view = json.loads(json.dumps(result.view(), allow_nan=False))
    assert view["control"] == {
        "name": "A",
        "units": 20_000,
        "mean": 0.05,
        "stddev": pytest.approx(0.05**0.5 * 0.95**0.5),
    }
    frequentist, sequential, bayesian = view["frequentist"], view["sequential"], view["bayesian"]
    assert frequentist["estimate"] == pytest.approx(0.12)
    assert frequentist["ci"][0] < 0.12 < frequentist["ci"][1]
    assert frequentist["p_value"] < 0.05 and frequentist["reason"] is None
    assert sequential["ci"][0] < frequentist["ci"][0] and sequential["tuning_parameter"] == 5000
    assert bayesian["chance_to_win"] > 0.99
    assert bayesian["risk"]["variation"] < bayesian["risk"]["control"]


def test_view_says_why_when_there_is_nothing_to_test() -> None:
    result = compare("purchase", ProportionStatistic(n=1, sum=1), ProportionStatistic(n=0, sum=0))
    view = json.loads(json.dumps(result.view(), allow_nan=False))
    for engine in ("frequentist", "sequential", "bayesian"):
        assert view[engine]["reason"] == "no_units"
        assert "wait" in view[engine]["message"]
    assert view["frequentist"]["p_value"] is None and view["bayesian"]["chance_to_win"] is None
    no_conversions = compare(
        "purchase", ProportionStatistic(n=500, sum=0), ProportionStatistic(n=500, sum=3)
    )
    assert no_conversions.view()["frequentist"]["reason"] == "zero_baseline"
    absolute = compare(
        "purchase",
        ProportionStatistic(n=500, sum=0),
        ProportionStatistic(n=500, sum=3),
        difference_type="absolute",
    )
    assert absolute.view()["frequentist"]["reason"] == "zero_variance"


def test_cuped_results_report_theta_and_unadjusted_means() -> None:
    def arm(post_mean: float) -> RegressionAdjustedStatistic:
        n = 1_000
        return RegressionAdjustedStatistic(
            n=n,
            post_statistic=SampleMeanStatistic(
                n=n, sum=post_mean * n, sum_squares=(post_mean**2 + 4) * n
            ),
            pre_statistic=SampleMeanStatistic(n=n, sum=5.0 * n, sum_squares=(25 + 4) * n),
            post_pre_sum_of_products=(post_mean * 5 + 3) * n,
        )

    result = compare("revenue", arm(10.0), arm(10.5))
    view = result.view()
    assert view["cuped_theta"] == pytest.approx(result.cuped_theta)
    assert 0 < view["cuped_theta"] < 1
    assert view["control"]["mean"] == pytest.approx(10.0)


def test_arms_of_different_kinds_are_a_caller_error() -> None:
    with pytest.raises(MismatchedStatistics) as raised:
        compare(
            "purchase",
            ProportionStatistic(n=10, sum=1),
            SampleMeanStatistic(n=10, sum=1, sum_squares=1),
        )
    assert raised.value.status_code == 400


def test_every_variation_is_compared_with_control() -> None:
    arms = {
        "B": ProportionStatistic(n=1_000, sum=120),
        "A": ProportionStatistic(n=1_000, sum=100),
        "C": ProportionStatistic(n=1_000, sum=90),
    }
    results = compare_arms("purchase", arms, control="A", alpha=0.1)
    assert [(r.control.name, r.variation.name) for r in results] == [("A", "B"), ("A", "C")]
    assert (
        results[0].view()
        == compare(
            "purchase", arms["A"], arms["B"], control_name="A", variation_name="B", alpha=0.1
        ).view()
    )
