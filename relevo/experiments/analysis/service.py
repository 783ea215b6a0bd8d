"""The use cases: an experiment's results over a period (optionally broken down by one
dimension), and the programme's ROI against the global holdout. The API and the CLI call these.

    RelevoError
    ├── NotFound (404)           ExperimentNotFound: no experiment with this id
    └── InvalidPeriod (400)      from is not before to, or a dimension the analysis does not know
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, cast

from relevo.errors import NotFound, RelevoError
from relevo.experiments.analysis.data import ExperimentData, Grouping, Period
from relevo.experiments.analysis.plan import (
    DIMENSIONS,
    HOLDOUT_ID,
    AnalysisPlan,
    plan_from_definition,
)
from relevo.experiments.analysis.results import (
    Breakdown,
    MetricResult,
    TimelinePoint,
    breakdown,
    compare_metric,
    srm_check,
    srm_view,
    timeline,
    totals,
)
from relevo.experiments.analysis.roi import IncrementalRevenue, incremental_revenue, revenue_metric
from relevo.experiments.analysis.sums import cells
from relevo.experiments.stats import SampleRatioCheck


class ExperimentNotFound(NotFound):
    code = "experiment_not_found"


class InvalidPeriod(RelevoError):
    code = "invalid_period"


@dataclass(frozen=True)
class ExperimentResults:
    plan: AnalysisPlan
    status: str
    period: Period
    units: dict[str, int]
    srm: SampleRatioCheck
    metrics: list[MetricResult]
    timeline: list[TimelinePoint]
    roi: list[IncrementalRevenue]
    breakdown: Breakdown | None = None
    notes: list[str] = field(default_factory=list)

    def view(self) -> dict[str, Any]:
        plan = self.plan
        return {
            "experiment": {
                "id": plan.experiment_id,
                "name": plan.name,
                "kind": plan.kind,
                "status": self.status,
                "control": plan.control,
                "variations": [
                    {"id": v, "name": plan.names.get(v, v), "weight": w}
                    for v, w in zip(plan.variations, plan.weights, strict=True)
                ],
            },
            "period": {"from": _iso(self.period.start), "to": _iso(self.period.end)},
            "units": self.units,
            "srm": srm_view(self.srm, plan, self.units),
            "goals": [m.view(plan) for m in self.metrics if not m.metric.guardrail],
            "guardrails": [m.view(plan) for m in self.metrics if m.metric.guardrail],
            "timeline": {
                "metric": plan.metrics[0].id,
                "points": [p.view() for p in self.timeline],
            },
            "roi": [r.view() for r in self.roi],
            "breakdown": self.breakdown.view(plan) if self.breakdown else None,
        }


def _iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat().replace("+00:00", "Z")


class ExperimentAnalysis:
    def __init__(self, data: ExperimentData) -> None:
        self.data = data

    def plan(self, workspace_id: int, experiment_id: str) -> tuple[AnalysisPlan, str]:
        # No saved id holds a NUL (PostgreSQL refuses one in text): it names nothing.
        stored = (
            None if "\x00" in experiment_id else self.data.experiment(workspace_id, experiment_id)
        )
        if stored is None:
            raise ExperimentNotFound(f"no experiment {experiment_id!r} in this workspace")
        plan = plan_from_definition(
            stored.experiment_id, stored.kind, stored.definition, stored.started_at
        )
        return plan, stored.status

    def results(
        self,
        workspace_id: int,
        experiment_id: str,
        period: Period = Period(),
        dimension: str | None = None,
    ) -> ExperimentResults:
        if period.start is not None and period.end is not None and period.start >= period.end:
            raise InvalidPeriod("from: the period must start before it ends (from < to)")
        if dimension is not None and dimension not in DIMENSIONS:
            raise InvalidPeriod(f"dimension: {dimension!r} is not one of {', '.join(DIMENSIONS)}")
        plan, status = self.plan(workspace_id, experiment_id)
        counts = self.data.unit_counts(workspace_id, experiment_id, period, "day", plan.variations)
        money = revenue_metric(plan)
        # The ROI's revenue is one more metric when the plan has none of its own.
        measured = [*plan.metrics, *([] if plan.metric(money.id) is money else [money])]
        sums = self.data.metric_sums(
            workspace_id, experiment_id, measured, period, plan.cuped_ms, "day"
        )
        by_day = {m.id: cells(counts, sums[m.id]) for m in measured}
        arms = {m.id: totals(by_day[m.id], plan.variations) for m in measured}
        units = {v: s.n for v, s in arms[plan.metrics[0].id].items()}
        metrics = [compare_metric(plan, m, arms[m.id]) for m in plan.metrics]
        broken = None
        if dimension is not None:
            by = cast(Grouping, dimension)
            dim_counts = self.data.unit_counts(
                workspace_id, experiment_id, period, by, plan.variations
            )
            dim_sums = self.data.metric_sums(
                workspace_id, experiment_id, plan.metrics, period, plan.cuped_ms, by
            )
            broken = breakdown(
                plan, dimension, {m.id: cells(dim_counts, dim_sums[m.id]) for m in plan.metrics}
            )
        return ExperimentResults(
            plan=plan,
            status=status,
            period=period,
            units=units,
            srm=srm_check(plan, units),
            metrics=metrics,
            timeline=timeline(plan, plan.metrics[0], by_day[plan.metrics[0].id]),
            roi=incremental_revenue(plan, money, arms[money.id]),
            breakdown=broken,
        )

    def holdout_report(self, workspace_id: int, period: Period = Period()) -> dict[str, Any]:
        """The programme's incremental revenue: personalized visitors against the holdout."""
        try:
            found = self.results(workspace_id, HOLDOUT_ID, period)
        except ExperimentNotFound:
            raise ExperimentNotFound(
                "no global holdout in this workspace: set one with PUT /v1/holdout"
            ) from None
        view = found.view()
        return {
            "experiment": view["experiment"],
            "period": view["period"],
            "units": view["units"],
            "srm": view["srm"],
            "roi": view["roi"],
            "goals": view["goals"],
        }
