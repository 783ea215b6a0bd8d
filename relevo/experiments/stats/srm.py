"""Sample-ratio mismatch: are the arms' unit counts what the weights promised? A chi-square
goodness-of-fit test (scipy.stats.chisquare); a mismatch means assignment or exposure logging
is broken (a redirect that loses one arm's visitors, a bot filter that hits one arm more), and
then no uplift of the experiment can be trusted, whatever its p-value.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as scipy_stats

from relevo.experiments.stats.errors import StatisticsInputError

# GrowthBook's threshold too: strict, because the check runs at every look of every
# experiment, and a false alarm stops a healthy test.
SRM_P_VALUE_THRESHOLD = 0.001


@dataclass(frozen=True)
class SampleRatioCheck:
    p_value: float
    chi_square: float
    flagged: bool  # p_value < SRM_P_VALUE_THRESHOLD
    expected_counts: tuple[float, ...]


def sample_ratio_check(
    observed: Sequence[int], expected_weights: Sequence[float]
) -> SampleRatioCheck:
    """Units seen per arm against the arms' configured weights (any scale, normalised here).

    An arm of weight 0 takes no part, unless it has units: that alone is a mismatch."""
    if len(observed) != len(expected_weights) or len(observed) < 2:
        raise StatisticsInputError(
            "give one count and one weight per arm, for two arms or more",
            arms=len(observed),
            weights=len(expected_weights),
        )
    counts = np.asarray(observed, dtype=np.float64)
    weights = np.asarray(expected_weights, dtype=np.float64)
    if np.any(counts < 0) or np.any(weights < 0) or weights.sum() <= 0:
        raise StatisticsInputError("counts and weights must be >= 0, and some weight > 0")
    total = counts.sum()
    expected = weights / weights.sum() * total
    if total == 0:
        return SampleRatioCheck(1.0, 0.0, False, tuple(expected.tolist()))
    weighted = weights > 0
    if np.any(counts[~weighted] > 0):
        return SampleRatioCheck(0.0, float("inf"), True, tuple(expected.tolist()))
    if weighted.sum() < 2:
        return SampleRatioCheck(1.0, 0.0, False, tuple(expected.tolist()))
    chi_square, p_value = scipy_stats.chisquare(counts[weighted], expected[weighted])
    p = float(p_value)
    return SampleRatioCheck(
        p, float(chi_square), p < SRM_P_VALUE_THRESHOLD, tuple(expected.tolist())
    )
