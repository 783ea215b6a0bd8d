"""Golden results from GrowthBook's gbstats 0.8.0 for relevo.experiments.stats to match.

Runs in its own virtualenv (see run.sh), never in Relevo's: gbstats pins numpy<2 and pandas<2.
Builds many input cases (sample means, proportions, ratios, CUPED; n from 0 to 10^5, equal
means, huge means, unequal arms, zero variance; several alphas; frequentist, sequential and
Bayesian, relative and absolute) from seeded simulated rows, runs gbstats' own test classes on
their sufficient statistics, and writes inputs and outputs to tests/fixtures/gbstats_golden.json.

    python generate.py [output.json]
"""

from __future__ import annotations

import importlib.metadata
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from gbstats.bayesian.tests import EffectBayesianABTest, EffectBayesianConfig, GaussianPrior
from gbstats.frequentist.tests import (
    FrequentistConfig,
    SequentialConfig,
    SequentialTwoSidedTTest,
    TwoSidedTTest,
)
from gbstats.models.statistics import (
    ProportionStatistic,
    RatioStatistic,
    RegressionAdjustedStatistic,
    SampleMeanStatistic,
)
from gbstats.utils import check_srm

OUTPUT = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "gbstats_golden.json"
SEED = 20_260_512


# --- inputs: one arm as plain sums, in the shape Relevo's statistics take --------------------


def sample_mean(values: np.ndarray) -> dict[str, Any]:
    return {
        "kind": "sample_mean",
        "n": int(values.size),
        "sum": float(values.sum()),
        "sum_squares": float((values**2).sum()),
    }


def proportion(values: np.ndarray) -> dict[str, Any]:
    return {"kind": "proportion", "n": int(values.size), "sum": float(values.sum())}


def base(values: np.ndarray, binary: bool) -> dict[str, Any]:
    return proportion(values) if binary else sample_mean(values)


def ratio(numerator: np.ndarray, denominator: np.ndarray, binary_d: bool = False) -> dict[str, Any]:
    return {
        "kind": "ratio",
        "n": int(numerator.size),
        "m_statistic": sample_mean(numerator),
        "d_statistic": base(denominator, binary_d),
        "m_d_sum_of_products": float((numerator * denominator).sum()),
    }


def cuped(post: np.ndarray, pre: np.ndarray, binary_post: bool = False) -> dict[str, Any]:
    return {
        "kind": "regression_adjusted",
        "n": int(post.size),
        "post_statistic": base(post, binary_post),
        "pre_statistic": sample_mean(pre),
        "post_pre_sum_of_products": float((post * pre).sum()),
    }


def to_gbstats(arm: dict[str, Any]) -> Any:
    kind = arm["kind"]
    if kind == "sample_mean":
        return SampleMeanStatistic(n=arm["n"], sum=arm["sum"], sum_squares=arm["sum_squares"])
    if kind == "proportion":
        return ProportionStatistic(n=arm["n"], sum=arm["sum"])
    if kind == "ratio":
        return RatioStatistic(
            n=arm["n"],
            m_statistic=to_gbstats(arm["m_statistic"]),
            d_statistic=to_gbstats(arm["d_statistic"]),
            m_d_sum_of_products=arm["m_d_sum_of_products"],
        )
    return RegressionAdjustedStatistic(
        n=arm["n"],
        post_statistic=to_gbstats(arm["post_statistic"]),
        pre_statistic=to_gbstats(arm["pre_statistic"]),
        post_pre_sum_of_products=arm["post_pre_sum_of_products"],
        theta=0,
    )


@dataclass
class Pair:
    name: str
    control: dict[str, Any]
    treatment: dict[str, Any]


def pairs(rng: np.random.Generator) -> list[Pair]:
    out: list[Pair] = []

    def revenue(n: int, mean: float, sd: float) -> np.ndarray:
        return rng.normal(mean, sd, n)

    # Sample means: small to large n, equal and unequal means, huge means, unequal arms.
    for n in (2, 3, 5, 10, 100, 1_000, 100_000):
        out.append(
            Pair(f"mean/n={n}", sample_mean(revenue(n, 10, 3)), sample_mean(revenue(n, 10.5, 3)))
        )
    out.append(
        Pair("mean/equal", sample_mean(revenue(5_000, 20, 8)), sample_mean(revenue(5_000, 20, 8)))
    )
    out.append(
        Pair(
            "mean/huge",
            sample_mean(revenue(2_000, 1e9, 1e7)),
            sample_mean(revenue(2_000, 1.001e9, 1e7)),
        )
    )
    out.append(
        Pair(
            "mean/tiny",
            sample_mean(revenue(500, 1e-6, 3e-7)),
            sample_mean(revenue(500, 1.1e-6, 3e-7)),
        )
    )
    out.append(
        Pair(
            "mean/unequal-arms", sample_mean(revenue(10_000, 5, 2)), sample_mean(revenue(60, 6, 4))
        )
    )
    out.append(
        Pair(
            "mean/negative-control",
            sample_mean(revenue(300, -4, 2)),
            sample_mean(revenue(300, -3, 2)),
        )
    )
    skewed = rng.lognormal(2, 1.5, 3_000) * (rng.random(3_000) < 0.1)
    skewed_b = rng.lognormal(2.1, 1.5, 3_200) * (rng.random(3_200) < 0.1)
    out.append(Pair("mean/revenue-per-visitor", sample_mean(skewed), sample_mean(skewed_b)))
    out.append(Pair("mean/n=1", sample_mean(revenue(1, 10, 3)), sample_mean(revenue(50, 10, 3))))
    out.append(
        Pair("mean/zero-variance", sample_mean(np.full(40, 7.0)), sample_mean(revenue(40, 7, 1)))
    )
    out.append(Pair("mean/no-units", sample_mean(np.zeros(0)), sample_mean(revenue(40, 7, 1))))

    # Proportions.
    for n, p_a, p_b in (
        (2, 0.5, 0.5),
        (20, 0.3, 0.4),
        (1_000, 0.05, 0.06),
        (10_000, 0.1, 0.1),
        (100_000, 0.02, 0.021),
        (50_000, 0.5, 0.49),
    ):
        a = (rng.random(n) < p_a).astype(float)
        b = (rng.random(n) < p_b).astype(float)
        out.append(Pair(f"proportion/n={n}/p={p_a}-{p_b}", proportion(a), proportion(b)))
    out.append(
        Pair(
            "proportion/unequal-arms",
            proportion((rng.random(20_000) < 0.1).astype(float)),
            proportion((rng.random(700) < 0.13).astype(float)),
        )
    )
    out.append(
        Pair(
            "proportion/no-conversions",
            proportion(np.zeros(500)),
            proportion((rng.random(500) < 0.02).astype(float)),
        )
    )
    out.append(
        Pair(
            "proportion/all-converted",
            proportion((rng.random(500) < 0.02).astype(float)),
            proportion(np.ones(500)),
        )
    )
    out.append(
        Pair(
            "proportion/n=1",
            proportion(np.ones(1)),
            proportion((rng.random(100) < 0.5).astype(float)),
        )
    )

    # Ratios: revenue per order (denominator a count), clicks per view with 0/1 views.
    for n in (10, 1_000, 20_000):
        orders_a = rng.poisson(1.2, n).astype(float)
        orders_b = rng.poisson(1.3, n).astype(float)
        revenue_a = orders_a * rng.gamma(2, 25, n)
        revenue_b = orders_b * rng.gamma(2, 26, n)
        out.append(Pair(f"ratio/n={n}", ratio(revenue_a, orders_a), ratio(revenue_b, orders_b)))
    viewed_a = (rng.random(4_000) < 0.6).astype(float)
    viewed_b = (rng.random(3_000) < 0.6).astype(float)
    out.append(
        Pair(
            "ratio/binary-denominator",
            ratio(viewed_a * rng.poisson(2, 4_000), viewed_a, True),
            ratio(viewed_b * rng.poisson(2.2, 3_000), viewed_b, True),
        )
    )

    # CUPED: pre-exposure value correlated with the post one.
    for n, rho in ((5, 0.9), (200, 0.5), (5_000, 0.8), (50_000, 0.3)):

        def arm(size: int, lift: float, rho: float = rho) -> tuple[np.ndarray, np.ndarray]:
            pre = rng.normal(50, 10, size)
            post = 50 + lift + rho * (pre - 50) + math.sqrt(1 - rho**2) * rng.normal(0, 10, size)
            return post, pre

        out.append(Pair(f"cuped/n={n}/rho={rho}", cuped(*arm(n, 0)), cuped(*arm(n, 1))))
    pre_a, pre_b = rng.poisson(1, 8_000).astype(float), rng.poisson(1, 8_000).astype(float)
    post_a = (rng.random(8_000) < 0.05 + 0.02 * np.minimum(pre_a, 3)).astype(float)
    post_b = (rng.random(8_000) < 0.055 + 0.02 * np.minimum(pre_b, 3)).astype(float)
    out.append(
        Pair("cuped/proportion-post", cuped(post_a, pre_a, True), cuped(post_b, pre_b, True))
    )
    flat_a, flat_b = rng.normal(10, 2, 300), rng.normal(10.4, 2, 300)
    out.append(
        Pair("cuped/no-pre-period", cuped(flat_a, np.zeros(300)), cuped(flat_b, np.zeros(300)))
    )
    return out


# --- engines -----------------------------------------------------------------------------------

ENGINES: list[dict[str, Any]] = [
    {"engine": "frequentist", "difference_type": "relative", "alpha": 0.05},
    {"engine": "frequentist", "difference_type": "absolute", "alpha": 0.05},
    {"engine": "frequentist", "difference_type": "relative", "alpha": 0.01},
    {"engine": "frequentist", "difference_type": "absolute", "alpha": 0.2},
    {
        "engine": "sequential",
        "difference_type": "relative",
        "alpha": 0.05,
        "tuning_parameter": 5000,
    },
    {
        "engine": "sequential",
        "difference_type": "absolute",
        "alpha": 0.05,
        "tuning_parameter": 5000,
    },
    {"engine": "sequential", "difference_type": "relative", "alpha": 0.1, "tuning_parameter": 500},
    {
        "engine": "sequential",
        "difference_type": "relative",
        "alpha": 0.01,
        "tuning_parameter": 100_000,
    },
    {"engine": "bayesian", "difference_type": "relative", "alpha": 0.05},
    {"engine": "bayesian", "difference_type": "absolute", "alpha": 0.05},
    {"engine": "bayesian", "difference_type": "relative", "alpha": 0.1, "inverse": True},
    {
        "engine": "bayesian",
        "difference_type": "relative",
        "alpha": 0.05,
        "prior": {"mean": 0.02, "variance": 0.0025, "proper": True},
    },
    {
        "engine": "bayesian",
        "difference_type": "absolute",
        "alpha": 0.05,
        "prior": {"mean": 0.0, "variance": 0.01, "proper": True},
    },
]


def run(pair: Pair, settings: dict[str, Any]) -> dict[str, Any]:
    stat_a, stat_b = to_gbstats(pair.control), to_gbstats(pair.treatment)
    engine, difference = settings["engine"], settings["difference_type"]
    if engine == "frequentist":
        test: Any = TwoSidedTTest(
            stat_a, stat_b, FrequentistConfig(alpha=settings["alpha"], difference_type=difference)
        )
    elif engine == "sequential":
        test = SequentialTwoSidedTTest(
            stat_a,
            stat_b,
            SequentialConfig(
                alpha=settings["alpha"],
                difference_type=difference,
                sequential_tuning_parameter=settings["tuning_parameter"],
            ),
        )
    else:
        prior = settings.get("prior", {"mean": 0.0, "variance": 0.01, "proper": False})
        test = EffectBayesianABTest(
            stat_a,
            stat_b,
            EffectBayesianConfig(
                alpha=settings["alpha"],
                difference_type=difference,
                inverse=settings.get("inverse", False),
                prior_effect=GaussianPrior(**prior),
                prior_type="relative",
            ),
        )
    result = test.compute_result()
    expected: dict[str, Any] = {"error": result.error_message}
    if isinstance(stat_a, RegressionAdjustedStatistic):
        # gbstats writes the pooled theta into its inputs (0 when it reverts to no CUPED).
        expected["theta"] = float(stat_a.theta)
    if result.error_message is None:
        expected |= {
            "expected": float(result.expected),
            "ci": [float(x) for x in result.ci],
            "stddev": float(result.uplift.stddev),
        }
        if engine == "bayesian":
            expected |= {
                "chance_to_win": float(result.chance_to_win),
                "risk": [float(x) for x in result.risk],
            }
        else:
            expected["p_value"] = float(result.p_value)
    for side, stat in (("control", test.stat_a), ("treatment", test.stat_b)):
        expected[f"{side}_mean"] = float(stat.mean)
        expected[f"{side}_unadjusted_mean"] = float(stat.unadjusted_mean)
        expected[f"{side}_variance"] = float(stat.variance)
    return expected


SRM_CASES = [
    ([10_000, 10_600], [0.5, 0.5]),
    ([10_000, 10_100], [0.5, 0.5]),
    ([5_000, 5_000], [0.5, 0.5]),
    ([1, 0], [0.5, 0.5]),
    ([2_000, 1_000, 1_000], [0.5, 0.25, 0.25]),
    ([2_000, 1_100, 900], [0.5, 0.25, 0.25]),
    ([900, 100], [0.9, 0.1]),
    ([300, 310, 290, 330], [1, 1, 1, 1]),
    ([52_341, 47_659], [0.5, 0.5]),
    ([123, 456], [0.2, 0.8]),
]


def main() -> None:
    rng = np.random.default_rng(SEED)
    cases = []
    for pair in pairs(rng):
        for settings in ENGINES:
            cases.append(
                {
                    "id": f"{pair.name}/{settings['engine']}/{settings['difference_type']}"
                    f"/alpha={settings['alpha']}"
                    + (
                        f"/tuning={settings['tuning_parameter']}"
                        if "tuning_parameter" in settings
                        else ""
                    )
                    + ("/inverse" if settings.get("inverse") else "")
                    + ("/proper-prior" if "prior" in settings else ""),
                    "control": pair.control,
                    "treatment": pair.treatment,
                    "settings": settings,
                    "expected": run(pair, settings),
                }
            )
    srm = [
        {"observed": observed, "weights": weights, "p_value": float(check_srm(observed, weights))}
        for observed, weights in SRM_CASES
    ]
    document = {
        "generator": "scripts/gbstats_golden/generate.py",
        "versions": {
            name: importlib.metadata.version(name)
            for name in ("gbstats", "numpy", "scipy", "pandas")
        },
        "seed": SEED,
        "cases": cases,
        "srm": srm,
    }
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else OUTPUT
    target.write_text(json.dumps(document, indent=1, allow_nan=False) + "\n")
    print(f"{len(cases)} cases and {len(srm)} SRM checks written to {target}")


if __name__ == "__main__":
    main()
