"""Benjamini-Hochberg: results broken down by dimension (device, traffic source, audience) test
many hypotheses at once, and at alpha = 5% one in twenty null segments would look significant.
The adjusted p-values control the false discovery rate, the share of false ones among the
segments called significant, which keeps the promising segments findable (Bonferroni would
control any false discovery at all and hide most of them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
from scipy import stats as scipy_stats

from relevo.experiments.stats.errors import StatisticsInputError
from relevo.experiments.stats.frequentist import FrequentistEstimate
from relevo.experiments.stats.results import ComparisonResult


def benjamini_hochberg(p_values: Sequence[float]) -> list[float]:
    """The BH-adjusted p-values, in the order given (scipy.stats.false_discovery_control)."""
    if not p_values:
        return []
    values = np.asarray(p_values, dtype=np.float64)
    if not np.all((values >= 0) & (values <= 1)):
        raise StatisticsInputError("p-values must lie in [0, 1]")
    adjusted = scipy_stats.false_discovery_control(values, method="bh")
    return [float(p) for p in np.atleast_1d(adjusted)]


def adjust_breakdown(results: Sequence[ComparisonResult]) -> list[ComparisonResult]:
    """The results of one metric over a dimension's values, each with its fixed-horizon p-value
    BH-adjusted over those that have one (the others are left without)."""
    tested = [
        (i, r.frequentist.p_value)
        for i, r in enumerate(results)
        if isinstance(r.frequentist, FrequentistEstimate)
    ]
    raw = [p for _, p in tested]
    adjusted = dict(zip((i for i, _ in tested), benjamini_hochberg(raw), strict=True))
    return [replace(r, adjusted_p_value=adjusted.get(i)) for i, r in enumerate(results)]
