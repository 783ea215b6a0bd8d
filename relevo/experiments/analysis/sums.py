"""An arm's aggregated sums, added up over groups (days, dimension values), and the statistics
engine's sufficient statistics made from them (relevo.experiments.stats)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields

from relevo.experiments.analysis.data import CountRow, GroupKey, SumRow
from relevo.experiments.analysis.plan import Metric
from relevo.experiments.stats import (
    ProportionStatistic,
    RatioStatistic,
    RegressionAdjustedStatistic,
    SampleMeanStatistic,
    Statistic,
)


@dataclass(frozen=True)
class Sums:
    """Over all the units of an arm (n), of which ``valued`` had goal events near exposure."""

    n: int = 0
    valued: int = 0
    x: float = 0.0
    xx: float = 0.0
    pre: float = 0.0
    pp: float = 0.0
    xp: float = 0.0
    d: float = 0.0
    dd: float = 0.0
    xd: float = 0.0

    def __add__(self, other: Sums) -> Sums:
        return Sums(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))


def _from_row(row: SumRow) -> Sums:
    return Sums(0, row.units, row.x, row.xx, row.pre, row.pp, row.xp, row.d, row.dd, row.xd)


def cells(counts: Iterable[CountRow], sums: Iterable[SumRow]) -> dict[tuple[str, GroupKey], Sums]:
    """(variation, group) -> its sums, units from ``counts``, values from ``sums``."""
    found: dict[tuple[str, GroupKey], Sums] = {}
    for c in counts:
        key = (c.variation, c.group)
        found[key] = found.get(key, Sums()) + Sums(n=c.units)
    for s in sums:
        key = (s.variation, s.group)
        found[key] = found.get(key, Sums()) + _from_row(s)
    return found


def statistic(metric: Metric, sums: Sums, cuped: bool) -> Statistic:
    """The metric's sufficient statistic over ``sums``' units (units without goal events add
    zeros, so the sums over the valued ones are the sums over all)."""
    n = sums.n
    if metric.is_ratio:
        return RatioStatistic(
            n,
            SampleMeanStatistic(n, sums.x, sums.xx),
            SampleMeanStatistic(n, sums.d, sums.dd),
            sums.xd,
        )
    post: ProportionStatistic | SampleMeanStatistic
    before: ProportionStatistic | SampleMeanStatistic
    if metric.kind == "conversion":
        post, before = ProportionStatistic(n, sums.x), ProportionStatistic(n, sums.pre)
    else:
        post, before = (
            SampleMeanStatistic(n, sums.x, sums.xx),
            SampleMeanStatistic(n, sums.pre, sums.pp),
        )
    if not cuped:
        return post
    return RegressionAdjustedStatistic(n, post, before, sums.xp)
