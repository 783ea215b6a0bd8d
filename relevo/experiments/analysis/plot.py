"""The uplift over time: each variation's cumulative relative uplift on the primary goal by
exposure day, with its always-valid (sequential) band and the fixed-horizon interval.

Drawn on matplotlib's Agg canvas without pyplot: no global backend is switched and nothing
needs a screen.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from relevo.experiments.analysis.results import TimelinePoint

_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")


def _days(points: Sequence[TimelinePoint]) -> npt.NDArray[np.datetime64]:
    return np.array([p.day for p in points], dtype="datetime64[D]")


def plot_uplift(points: list[TimelinePoint], path: Path, title: str, metric: str) -> Path:
    """Write the PNG to ``path`` (its folder is created) and return the path."""
    # Imported here: the package is imported by servers, which never draw.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.dates import DateFormatter, DayLocator
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 5.5), dpi=110, layout="constrained")
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    variations = list(dict.fromkeys(p.variation for p in points))
    for i, variation in enumerate(variations):
        colour = _COLOURS[i % len(_COLOURS)]
        mine = [p for p in points if p.variation == variation and p.estimate is not None]
        if not mine:
            continue
        days = _days(mine)
        ax.plot(days, [100 * (p.estimate or 0) for p in mine], color=colour, marker="o",
                label=f"{variation}: uplift")  # fmt: skip
        banded = [p for p in mine if p.sequential_ci is not None]
        if banded:
            ax.fill_between(
                _days(banded),
                [100 * p.sequential_ci[0] for p in banded if p.sequential_ci],
                [100 * p.sequential_ci[1] for p in banded if p.sequential_ci],
                color=colour, alpha=0.18, label=f"{variation}: always-valid interval",
            )  # fmt: skip
        fixed = [p for p in mine if p.ci is not None]
        if fixed:
            for bound in (0, 1):
                ax.plot(
                    _days(fixed),
                    [100 * p.ci[bound] for p in fixed if p.ci],
                    color=colour, linestyle="--", linewidth=0.8,
                    label=f"{variation}: fixed-horizon interval" if bound == 0 else None,
                )  # fmt: skip
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xlabel("exposure day (cumulative)")
    ax.set_ylabel(f"relative uplift of {metric} vs control (%)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if variations:
        ax.legend(loc="best", fontsize=9)
    span = max((p.day for p in points), default=0) - min((p.day for p in points), default=0)
    # Whole days only: a unit's day is its exposure's.
    ax.xaxis.set_major_locator(DayLocator(interval=max(1, span // 10)))  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_formatter(DateFormatter("%Y-%m-%d"))  # type: ignore[no-untyped-call]
    figure.autofmt_xdate()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    return path
