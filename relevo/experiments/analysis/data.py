"""What the analysis reads, as a protocol: the storage adapter
(relevo.storage.experiment_data.ExperimentDataStore) aggregates in the database and hands back
one row per (variation, group), where a group is an exposure day or a dimension's value."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from relevo.experiments.analysis.plan import Metric

DAY_MS = 86_400_000
Grouping = Literal["day", "device", "source", "visitor_type", "segment", "audience"]
GroupKey = int | str | None  # an exposure day (days since the epoch, UTC) or a dimension value


@dataclass(frozen=True)
class Period:
    """Exposures from ``start`` (included) to ``end`` (excluded), epoch ms; None: unbounded."""

    start: int | None = None
    end: int | None = None


@dataclass(frozen=True)
class StoredExperiment:
    experiment_id: str
    kind: str
    status: str
    definition: dict[str, Any]
    started_at: int | None


@dataclass(frozen=True)
class CountRow:
    variation: str
    group: GroupKey
    units: int


@dataclass(frozen=True)
class SumRow:
    """Sums over the units of one (variation, group) that have any goal event near exposure
    (the others add only zeros): x the metric's value in the window (a ratio's numerator),
    pre its value in the CUPED window before exposure, d a ratio's denominator."""

    variation: str
    group: GroupKey
    units: int
    x: float
    xx: float
    pre: float
    pp: float
    xp: float
    d: float
    dd: float
    xd: float


class ExperimentData(Protocol):
    def experiment(self, workspace_id: int, experiment_id: str) -> StoredExperiment | None: ...

    def unit_counts(
        self,
        workspace_id: int,
        experiment_id: str,
        period: Period,
        by: Grouping,
        variations: Sequence[str],
    ) -> list[CountRow]: ...

    def metric_sums(
        self,
        workspace_id: int,
        experiment_id: str,
        metrics: Sequence[Metric],
        period: Period,
        pre_ms: int,
        by: Grouping,
    ) -> dict[str, list[SumRow]]: ...
