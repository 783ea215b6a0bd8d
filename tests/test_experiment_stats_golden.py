"""relevo.experiments.stats against GrowthBook's gbstats 0.8.0 on the same inputs: the cases of
tests/fixtures/gbstats_golden.json (made by scripts/gbstats_golden/run.sh), one test each.

Every number agrees to 1e-6 relative, with an absolute floor of 1e-12 for values near zero
(p-values of 1e-40 and risks of 1e-300 agree in every printed digit anyway; relative error of
0 vs 1e-300 is meaningless). Relative, because the cases span means from 1e-6 to 1e9.

Where gbstats refuses (its error message, and a default result of zeros), Relevo must refuse
too; the reason codes differ in name and, for one unit or none, in order of checking, so each
gbstats message accepts the Relevo reasons that describe the same inputs.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from relevo.experiments.stats import (
    GaussianPrior,
    ProportionStatistic,
    RatioStatistic,
    RegressionAdjustedStatistic,
    SampleMeanStatistic,
    Statistic,
    Unavailable,
    bayesian_test,
    sample_ratio_check,
    sequential_test,
    welch_t_test,
    with_pooled_theta,
)
from relevo.experiments.stats.bayesian import BayesianEstimate
from relevo.experiments.stats.frequentist import FrequentistEstimate
from relevo.experiments.stats.sequential import SequentialEstimate
from relevo.experiments.stats.statistics import BaseStatistic

GOLDEN = json.loads((Path(__file__).parent / "fixtures" / "gbstats_golden.json").read_text())
REL_TOL, ABS_TOL = 1e-6, 1e-12

ACCEPTED_REASONS = {
    "NO_UNITS_IN_VARIATION": {"no_units"},
    "ZERO_NEGATIVE_BASELINE_VARIATION": {
        "no_units",
        "too_few_units",
        "zero_baseline",
        "zero_variance",
    },
    "ZERO_NEGATIVE_VARIANCE": {"no_units", "too_few_units", "zero_variance"},
}


def _base(arm: dict[str, Any]) -> BaseStatistic:
    if arm["kind"] == "proportion":
        return ProportionStatistic(n=arm["n"], sum=arm["sum"])
    return SampleMeanStatistic(n=arm["n"], sum=arm["sum"], sum_squares=arm["sum_squares"])


def statistic(arm: dict[str, Any]) -> Statistic:
    if arm["kind"] == "ratio":
        return RatioStatistic(
            n=arm["n"],
            m_statistic=_base(arm["m_statistic"]),
            d_statistic=_base(arm["d_statistic"]),
            m_d_sum_of_products=arm["m_d_sum_of_products"],
        )
    if arm["kind"] == "regression_adjusted":
        return RegressionAdjustedStatistic(
            n=arm["n"],
            post_statistic=_base(arm["post_statistic"]),
            pre_statistic=_base(arm["pre_statistic"]),
            post_pre_sum_of_products=arm["post_pre_sum_of_products"],
        )
    return _base(arm)


def assert_close(name: str, ours: float, theirs: float) -> None:
    assert math.isclose(ours, theirs, rel_tol=REL_TOL, abs_tol=ABS_TOL), (
        f"{name}: relevo {ours!r}, gbstats {theirs!r}"
    )


def run(
    case: dict[str, Any],
) -> FrequentistEstimate | SequentialEstimate | BayesianEstimate | Unavailable:
    control, treatment = statistic(case["control"]), statistic(case["treatment"])
    settings = case["settings"]
    common = {"alpha": settings["alpha"], "difference_type": settings["difference_type"]}
    if settings["engine"] == "frequentist":
        return welch_t_test(control, treatment, **common)
    if settings["engine"] == "sequential":
        return sequential_test(
            control, treatment, tuning_parameter=settings["tuning_parameter"], **common
        )
    prior = GaussianPrior(**settings.get("prior", {"proper": False}))
    return bayesian_test(
        control, treatment, prior=prior, inverse=settings.get("inverse", False), **common
    )


@pytest.mark.parametrize("case", GOLDEN["cases"], ids=[c["id"] for c in GOLDEN["cases"]])
def test_matches_gbstats(case: dict[str, Any]) -> None:
    expected = case["expected"]
    control, treatment = with_pooled_theta(statistic(case["control"]), statistic(case["treatment"]))
    if "theta" in expected:
        assert isinstance(control, RegressionAdjustedStatistic)
        assert_close("theta", control.theta, expected["theta"])
    for side, arm in (("control", control), ("treatment", treatment)):
        assert_close(f"{side} mean", arm.mean, expected[f"{side}_mean"])
        assert_close(
            f"{side} unadjusted mean", arm.unadjusted_mean, expected[f"{side}_unadjusted_mean"]
        )
        assert_close(f"{side} variance", arm.variance, expected[f"{side}_variance"])

    result = run(case)
    if expected["error"] is not None:
        assert isinstance(result, Unavailable), f"gbstats refused: {expected['error']}"
        assert result.reason in ACCEPTED_REASONS[expected["error"]]
        return
    assert not isinstance(result, Unavailable), f"refused ({result}) where gbstats answered"
    assert_close("ci low", result.ci.low, expected["ci"][0])
    assert_close("ci high", result.ci.high, expected["ci"][1])
    assert_close("stddev", result.stddev, expected["stddev"])
    if isinstance(result, BayesianEstimate):
        assert_close("expected", result.expected, expected["expected"])
        assert_close("chance to win", result.chance_to_win, expected["chance_to_win"])
        assert_close("risk of control", result.risk_of_control, expected["risk"][0])
        assert_close("risk of treatment", result.risk_of_treatment, expected["risk"][1])
    else:
        assert_close("estimate", result.estimate, expected["expected"])
        assert_close("p value", result.p_value, expected["p_value"])


@pytest.mark.parametrize("case", GOLDEN["srm"], ids=lambda c: f"{c['observed']}-{c['weights']}")
def test_srm_matches_gbstats(case: dict[str, Any]) -> None:
    check = sample_ratio_check(case["observed"], case["weights"])
    assert_close("srm p value", check.p_value, case["p_value"])


def test_the_fixture_covers_every_engine_and_statistic() -> None:
    kinds = {(c["control"]["kind"], c["settings"]["engine"]) for c in GOLDEN["cases"]}
    statistics = {"sample_mean", "proportion", "ratio", "regression_adjusted"}
    assert kinds == {(k, e) for k in statistics for e in ("frequentist", "sequential", "bayesian")}
    assert GOLDEN["versions"]["gbstats"] == "0.8.0"
