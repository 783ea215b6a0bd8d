"""Return on investment: the revenue an experiment's variation brought beyond control, and the
revenue the whole personalization programme brought beyond the global holdout.

    incremental revenue = (revenue per visitor, treated - control) x treated units

with the interval of the absolute difference (Welch) scaled the same way: the units are
counted, not estimated, so they carry no error of their own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from relevo.experiments.analysis.plan import AnalysisPlan, Metric, metric_from
from relevo.experiments.analysis.sums import Sums, statistic
from relevo.experiments.stats import FrequentistEstimate, welch_t_test


@dataclass(frozen=True)
class IncrementalRevenue:
    variation: str
    control: str
    treated_units: int
    revenue_per_visitor: float | None  # treated
    control_revenue_per_visitor: float | None
    difference_per_visitor: float | None
    incremental_revenue: float | None
    interval: tuple[float, float] | None
    reason: str | None = None  # why there is no estimate

    def view(self) -> dict[str, Any]:
        return {
            "variation": self.variation,
            "control": self.control,
            "treated_units": self.treated_units,
            "revenue_per_visitor": self.revenue_per_visitor,
            "control_revenue_per_visitor": self.control_revenue_per_visitor,
            "difference_per_visitor": self.difference_per_visitor,
            "incremental_revenue": self.incremental_revenue,
            "ci": list(self.interval) if self.interval else None,
            "reason": self.reason,
        }


def revenue_metric(plan: AnalysisPlan) -> Metric:
    """The experiment's first revenue goal, else revenue of Order Completed in 72 hours."""
    chosen = next((m for m in plan.metrics if m.kind == "revenue"), None)
    # Its own id: the plan may have a goal called "revenue" that measures something else.
    return chosen or metric_from({"id": "roi-revenue", "name": "Revenue", "metric": "revenue"})


def incremental_revenue(
    plan: AnalysisPlan, metric: Metric, arms: Mapping[str, Sums]
) -> list[IncrementalRevenue]:
    control = arms.get(plan.control, Sums())
    control_stat = statistic(metric, control, cuped=False)
    found = []
    for variation in plan.variations:
        if variation == plan.control:
            continue
        treated = arms.get(variation, Sums())
        test = welch_t_test(
            control_stat, statistic(metric, treated, cuped=False), alpha=plan.alpha,
            difference_type="absolute",
        )  # fmt: skip
        rpv = treated.x / treated.n if treated.n else None
        control_rpv = control.x / control.n if control.n else None
        if isinstance(test, FrequentistEstimate):
            scale = treated.n
            found.append(
                IncrementalRevenue(
                    variation,
                    plan.control,
                    treated.n,
                    rpv,
                    control_rpv,
                    test.estimate,
                    test.estimate * scale,
                    (test.ci.low * scale, test.ci.high * scale),
                )
            )
        else:
            found.append(
                IncrementalRevenue(
                    variation,
                    plan.control,
                    treated.n,
                    rpv,
                    control_rpv,
                    None,
                    None,
                    None,
                    test.reason,
                )
            )
    return found
