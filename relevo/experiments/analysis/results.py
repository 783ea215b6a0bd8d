"""One experiment's results from its aggregated sums: the arms and the sample-ratio check, each
goal and guardrail through every engine, a dimension's breakdown with Benjamini-Hochberg
adjusted p-values, and the primary goal's cumulative uplift by exposure day. Pure: the sums
come in (relevo.experiments.analysis.service reads them), JSON-ready views go out."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from relevo.experiments.analysis.data import DAY_MS, GroupKey
from relevo.experiments.analysis.plan import AnalysisPlan, Metric
from relevo.experiments.analysis.sums import Sums, statistic
from relevo.experiments.stats import (
    ComparisonResult,
    FrequentistEstimate,
    SampleRatioCheck,
    SequentialEstimate,
    adjust_breakdown,
    compare_arms,
    sample_ratio_check,
)

Cells = Mapping[tuple[str, GroupKey], Sums]


def totals(cells: Cells, variations: Sequence[str]) -> dict[str, Sums]:
    """Each variation's sums over all its groups."""
    found = {v: Sums() for v in variations}
    for (variation, _), sums in cells.items():
        if variation in found:
            found[variation] = found[variation] + sums
    return found


@dataclass(frozen=True)
class MetricResult:
    metric: Metric
    arms: dict[str, Sums]
    cuped: bool
    comparisons: list[ComparisonResult]

    def view(self, plan: AnalysisPlan) -> dict[str, Any]:
        m = self.metric
        return {
            "id": m.id,
            "name": m.name,
            "metric": m.kind,
            "guardrail": m.guardrail,
            "window_hours": m.window_ms / 3_600_000,
            "cuped": self.cuped,
            "arms": [
                {
                    "variation": v,
                    "units": s.n,
                    "units_with_events": s.valued,
                    "total": s.x,
                    "denominator": s.d if m.is_ratio else None,
                    "mean": (s.x / s.d if s.d else None)
                    if m.is_ratio
                    else (s.x / s.n if s.n else None),
                }
                for v, s in self.arms.items()
            ],
            "comparisons": [c.view() for c in self.comparisons],
        }


def uses_cuped(plan: AnalysisPlan, metric: Metric, arms: Mapping[str, Sums]) -> bool:
    """CUPED where it can help: a plain metric, a pre-exposure window, and data in it."""
    return plan.cuped_ms > 0 and not metric.is_ratio and any(s.pre != 0 for s in arms.values())


def compare_metric(
    plan: AnalysisPlan, metric: Metric, arms: Mapping[str, Sums], dimension: str | None = None
) -> MetricResult:
    cuped = uses_cuped(plan, metric, arms)
    statistics = {v: statistic(metric, s, cuped) for v, s in arms.items()}
    comparisons = compare_arms(
        metric.id,
        statistics,
        plan.control,
        alpha=plan.alpha,
        tuning_parameter=plan.sequential_tuning,
        dimension=dimension,
    )
    return MetricResult(metric, dict(arms), cuped, comparisons)


def srm_check(plan: AnalysisPlan, units: Mapping[str, int]) -> SampleRatioCheck:
    return sample_ratio_check([units.get(v, 0) for v in plan.variations], list(plan.weights))


def srm_view(
    check: SampleRatioCheck, plan: AnalysisPlan, units: Mapping[str, int]
) -> dict[str, Any]:
    return {
        "p_value": check.p_value,
        "chi_square": check.chi_square if check.chi_square != float("inf") else None,
        "flagged": check.flagged,
        "threshold": 0.001,
        "observed": {v: units.get(v, 0) for v in plan.variations},
        "expected": dict(zip(plan.variations, check.expected_counts, strict=True)),
    }


@dataclass(frozen=True)
class TimelinePoint:
    """The cumulative comparison of one variation with control up to an exposure day."""

    day: int
    variation: str
    control_units: int
    variation_units: int
    estimate: float | None
    ci: tuple[float, float] | None  # fixed-horizon: valid at the end only
    sequential_ci: tuple[float, float] | None  # always valid: the band to read while peeking

    def view(self) -> dict[str, Any]:
        return {
            "date": iso_day(self.day),
            "variation": self.variation,
            "control_units": self.control_units,
            "variation_units": self.variation_units,
            "estimate": self.estimate,
            "ci": list(self.ci) if self.ci else None,
            "sequential_ci": list(self.sequential_ci) if self.sequential_ci else None,
        }


def iso_day(day: int) -> str:
    return dt.datetime.fromtimestamp(day * DAY_MS / 1000, dt.UTC).date().isoformat()


def timeline(plan: AnalysisPlan, metric: Metric, by_day: Cells) -> list[TimelinePoint]:
    """Units by their exposure day, each with its whole window's value, cumulated."""
    days = sorted({int(day) for _, day in by_day if day is not None})
    running = {v: Sums() for v in plan.variations}
    points: list[TimelinePoint] = []
    for day in days:
        for v in plan.variations:
            running[v] = running[v] + by_day.get((v, day), Sums())
        result = compare_metric(plan, metric, running)
        for c in result.comparisons:
            f, s = c.frequentist, c.sequential
            points.append(
                TimelinePoint(
                    day,
                    c.variation.name,
                    c.control.units,
                    c.variation.units,
                    f.estimate if isinstance(f, FrequentistEstimate) else None,
                    (f.ci.low, f.ci.high) if isinstance(f, FrequentistEstimate) else None,
                    (s.ci.low, s.ci.high) if isinstance(s, SequentialEstimate) else None,
                )
            )
    return points


@dataclass(frozen=True)
class Breakdown:
    dimension: str
    values: list[tuple[str | None, int, list[MetricResult]]] = field(default_factory=list)

    def view(self, plan: AnalysisPlan) -> dict[str, Any]:
        return {
            "dimension": self.dimension,
            "values": [
                {"value": value, "units": units, "goals": [r.view(plan) for r in results]}
                for value, units, results in self.values
            ],
        }


def breakdown(plan: AnalysisPlan, dimension: str, per_metric: Mapping[str, Cells]) -> Breakdown:
    """Every metric for every value of ``dimension``; each metric's and variation's p-values
    adjusted together over the values (Benjamini-Hochberg)."""
    values = sorted(
        {g for cells in per_metric.values() for _, g in cells},
        key=lambda g: (g is None, str(g)),
    )
    table: dict[GroupKey, list[MetricResult]] = {value: [] for value in values}
    units: dict[GroupKey, int] = {}
    for metric in plan.metrics:
        cells = per_metric[metric.id]
        results = []
        for value in values:
            arms = {v: cells.get((v, value), Sums()) for v in plan.variations}
            units[value] = sum(s.n for s in arms.values())
            results.append(compare_metric(plan, metric, arms, f"{dimension}={value}"))
        # Adjusted per variation, across the dimension's values.
        for position in range(len(plan.variations) - 1):
            column = adjust_breakdown([r.comparisons[position] for r in results])
            for r, adjusted in zip(results, column, strict=True):
                r.comparisons[position] = adjusted
        for value, r in zip(values, results, strict=True):
            table[value].append(r)
    return Breakdown(
        dimension,
        [(None if v is None else str(v), units.get(v, 0), table[v]) for v in values],
    )
