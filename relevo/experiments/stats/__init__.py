"""The statistics of experiments: pure functions from each arm's sufficient statistics (counts,
sums, sums of squares and of cross products, as the aggregation layer computes them) to results.
No I/O; numpy and scipy only. Numbers match GrowthBook's gbstats 0.8.0 on the same inputs
(tests/fixtures/gbstats_golden.json, made by scripts/gbstats_golden/).

    statistics            the arms' sufficient statistics; CUPED's pooled theta
    moments               their formulas, array-valued (one test or a batch alike)
    frequentist           Welch t-test of the relative uplift or absolute difference
    sequential            always-valid confidence sequences (GAVI); its tuning parameter
    bayesian              chance to win, risk, credible interval
    srm                   sample-ratio mismatch (chi-square, p < 0.001)
    multiple_comparisons  Benjamini-Hochberg over a dimension's breakdown
    bandit                Thompson sampling weights; regret and uplift report
    analysis / results    every engine for one metric and variation; its JSON view
    errors                what the caller got wrong (analysable-but-empty is not an error)
"""

from relevo.experiments.stats.analysis import compare, compare_arms
from relevo.experiments.stats.bandit import (
    Allocation,
    AllocationPolicy,
    BanditReport,
    bandit_report,
    thompson_weights,
)
from relevo.experiments.stats.bayesian import (
    BayesianEstimate,
    GaussianPrior,
    bayesian_test,
    posterior_arrays,
)
from relevo.experiments.stats.errors import (
    InvalidAllocation,
    MismatchedStatistics,
    StatisticsInputError,
)
from relevo.experiments.stats.estimates import Interval, Unavailable
from relevo.experiments.stats.frequentist import (
    FrequentistEstimate,
    welch_t_test,
    welch_t_test_arrays,
)
from relevo.experiments.stats.multiple_comparisons import adjust_breakdown, benjamini_hochberg
from relevo.experiments.stats.results import ArmSummary, ComparisonResult
from relevo.experiments.stats.sequential import (
    DEFAULT_TUNING_PARAMETER,
    SequentialEstimate,
    confidence_sequence_arrays,
    sequential_test,
)
from relevo.experiments.stats.srm import (
    SRM_P_VALUE_THRESHOLD,
    SampleRatioCheck,
    sample_ratio_check,
)
from relevo.experiments.stats.statistics import (
    ProportionStatistic,
    RatioStatistic,
    RegressionAdjustedStatistic,
    SampleMeanStatistic,
    Statistic,
    with_pooled_theta,
)

__all__ = [
    "DEFAULT_TUNING_PARAMETER",
    "SRM_P_VALUE_THRESHOLD",
    "Allocation",
    "AllocationPolicy",
    "ArmSummary",
    "BanditReport",
    "BayesianEstimate",
    "ComparisonResult",
    "FrequentistEstimate",
    "GaussianPrior",
    "Interval",
    "InvalidAllocation",
    "MismatchedStatistics",
    "ProportionStatistic",
    "RatioStatistic",
    "RegressionAdjustedStatistic",
    "SampleMeanStatistic",
    "SampleRatioCheck",
    "SequentialEstimate",
    "Statistic",
    "StatisticsInputError",
    "Unavailable",
    "adjust_breakdown",
    "bandit_report",
    "bayesian_test",
    "benjamini_hochberg",
    "compare",
    "compare_arms",
    "confidence_sequence_arrays",
    "posterior_arrays",
    "sample_ratio_check",
    "sequential_test",
    "thompson_weights",
    "welch_t_test",
    "welch_t_test_arrays",
    "with_pooled_theta",
]
