"""What an experiment asks to be measured, read from its saved definition (the shape of
relevo.experiments.model: goals, guardrails, analysis, variations, control).

A metric is measured per unit (a person) over a window after the unit's first exposure:

    conversion   1 if the unit sent the goal event within the window, else 0
    revenue      the sum of the event's ``property`` within the window (revenue per visitor)
    aov          a ratio: the sum of ``property`` over the number of goal events (per order)
    ratio        a ratio: the numerator's sum (of ``property``, or a count of events) over the
                 denominator's (its own event and property, or a count)

CUPED uses the same metric over the ``cuped_days`` before exposure (conversion and revenue;
ratios are analysed without it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from relevo.errors import RelevoError

MetricKind = Literal["conversion", "revenue", "aov", "ratio"]
METRIC_KINDS: tuple[MetricKind, ...] = ("conversion", "revenue", "aov", "ratio")
DIMENSIONS = ("device", "source", "visitor_type", "segment", "audience")
HOLDOUT_ID = "global-holdout"
HOLDOUT_CONTROL, HOLDOUT_TREATED = "holdout", "personalized"
DEFAULT_WINDOW_HOURS = 72.0
ORDER_COMPLETED = "Order Completed"


class InvalidPlan(RelevoError):
    """A saved definition this analysis cannot read (it was saved by an older model)."""

    code = "invalid_experiment"


@dataclass(frozen=True)
class Part:
    """One side of a per-unit value: the sum of ``property`` of ``event`` (a count if None)."""

    event: str
    property: str | None


@dataclass(frozen=True)
class Metric:
    id: str
    name: str
    kind: MetricKind
    numerator: Part
    denominator: Part | None  # ratios only (aov: the count of the same event)
    window_ms: int
    guardrail: bool = False

    @property
    def is_ratio(self) -> bool:
        return self.denominator is not None


@dataclass(frozen=True)
class AnalysisPlan:
    experiment_id: str
    name: str
    kind: str
    control: str
    variations: tuple[str, ...]  # control first
    weights: tuple[float, ...]  # expected shares, for the sample-ratio check
    metrics: tuple[Metric, ...]
    alpha: float = 0.05
    cuped_ms: int = 7 * 86_400_000
    sequential_tuning: float = 5000.0
    dimensions: tuple[str, ...] = DIMENSIONS
    started_at: int | None = None
    names: Mapping[str, str] = field(default_factory=dict)  # variation id -> name

    def metric(self, metric_id: str) -> Metric | None:
        return next((m for m in self.metrics if m.id == metric_id), None)


def _text(value: Any, default: str) -> str:
    return value if isinstance(value, str) and value else default


def _number(value: Any, default: float) -> float:
    return (
        float(value) if isinstance(value, int | float) and not isinstance(value, bool) else default
    )


def metric_from(goal: Mapping[str, Any], guardrail: bool = False) -> Metric:
    metric_id = _text(goal.get("id"), "")
    kind = goal.get("metric", "conversion")
    if not metric_id or kind not in METRIC_KINDS:
        raise InvalidPlan(f"goal {metric_id or '?'}: metric {kind!r} is not one of {METRIC_KINDS}")
    event = _text(goal.get("event"), ORDER_COMPLETED)
    prop = goal.get("property") if isinstance(goal.get("property"), str) else None
    if kind in ("revenue", "aov") and prop is None:
        prop = "revenue"
    numerator = Part(event, prop if kind != "conversion" else None)
    denominator: Part | None = None
    if kind == "aov":
        denominator = Part(event, None)
    elif kind == "ratio":
        below = _mapping(goal.get("denominator"))
        den_prop = below.get("property") if isinstance(below.get("property"), str) else None
        denominator = Part(_text(below.get("event"), event), den_prop)
    hours = _number(goal.get("window_hours"), DEFAULT_WINDOW_HOURS)
    return Metric(
        id=metric_id,
        name=_text(goal.get("name"), metric_id),
        kind=kind,
        numerator=numerator,
        denominator=denominator,
        window_ms=int(hours * 3_600_000),
        guardrail=guardrail,
    )


def _variations(definition: Mapping[str, Any]) -> tuple[list[str], list[float], dict[str, str]]:
    ids: list[str] = []
    weights: list[float] = []
    names: dict[str, str] = {}
    for entry in definition.get("variations") or []:
        if isinstance(entry, str):
            entry = {"id": entry}
        if not isinstance(entry, Mapping) or not isinstance(entry.get("id"), str):
            continue
        ids.append(entry["id"])
        weights.append(_number(entry.get("weight"), 1.0))
        names[entry["id"]] = _text(entry.get("name"), entry["id"])
    return ids, weights, names


def plan_from_definition(
    experiment_id: str, kind: str, definition: Mapping[str, Any], started_at: int | None = None
) -> AnalysisPlan:
    ids, weights, names = _variations(definition)
    if kind == "holdout" and not ids:
        ids, weights = [HOLDOUT_CONTROL, HOLDOUT_TREATED], [0.05, 0.95]
    control = _text(definition.get("control"), ids[0] if ids else "control")
    if control in ids:  # control first
        at = ids.index(control)
        ids.insert(0, ids.pop(at))
        weights.insert(0, weights.pop(at))
    metrics = [metric_from(g) for g in _goals(definition.get("goals"))]
    metrics += [metric_from(g, guardrail=True) for g in _goals(definition.get("guardrails"))]
    if not metrics:  # a holdout, or an experiment saved without goals: orders and revenue
        metrics = [
            metric_from({"id": "orders", "name": "Orders", "metric": "conversion"}),
            metric_from({"id": "revenue", "name": "Revenue per visitor", "metric": "revenue"}),
        ]
    analysis = _mapping(definition.get("analysis"))
    dims = analysis.get("dimensions")
    total = sum(weights) or 1.0
    return AnalysisPlan(
        experiment_id=experiment_id,
        name=_text(definition.get("name"), experiment_id),
        kind=kind,
        control=control,
        variations=tuple(ids),
        weights=tuple(w / total for w in weights),
        metrics=tuple(metrics),
        alpha=_number(analysis.get("alpha"), 0.05),
        cuped_ms=int(_number(analysis.get("cuped_days"), 7) * 86_400_000),
        sequential_tuning=_number(analysis.get("sequential_tuning"), 5000.0),
        dimensions=tuple(d for d in dims if d in DIMENSIONS)
        if isinstance(dims, list)
        else DIMENSIONS,
        started_at=started_at,
        names=names,
    )


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _goals(value: Any) -> Sequence[Mapping[str, Any]]:
    return [g for g in value if isinstance(g, Mapping)] if isinstance(value, list) else []
