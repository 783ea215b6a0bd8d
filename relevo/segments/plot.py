"""A picture of the segments: the customers on the first two principal components of the
features they were clustered on, coloured by segment, with each segment's words and size.

Drawn on matplotlib's Agg canvas without pyplot, so no global backend is switched and nothing
needs a screen.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from relevo.segments.clustering import SegmentModel
from relevo.segments.features import RFM, Customers, FloatArray

# What a positive and a negative loading of each RFM feature mean, in words.
_FEATURE_WORDS = {
    "recency_days": ("longer since last order", "more recent"),
    "orders": ("more orders", "fewer orders"),
    "revenue": ("more revenue", "less revenue"),
}
_COLOURS = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#17becf",
    "#bcbd22",
    "#7f7f7f",
)


def plot_segments(
    model: SegmentModel,
    customers: Customers,
    path: Path,
    *,
    max_points: int = 4_000,
    seed: int = 0,
    title: str | None = None,
) -> Path:
    """Write the PNG to ``path`` (its folder is created) and return the path."""
    # Imported here: the package is imported by servers, which never draw.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    buyers = customers.buyers()
    features = model.space.transform(buyers)
    segment = model.nearest(features)
    centre = features.mean(axis=0) if len(features) else np.zeros(features.shape[1])
    axes_2d, explained = _principal_axes(features - centre)
    points = (features - centre) @ axes_2d
    centroids = (model.centroids - centre) @ axes_2d
    rng = np.random.default_rng(seed)
    shown = np.arange(len(points))
    if len(shown) > max_points:
        shown = np.sort(rng.choice(len(points), size=max_points, replace=False))

    figure = Figure(figsize=(11, 8), dpi=110, layout="constrained")
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    for i, seg in enumerate(model.segments):
        colour = _COLOURS[i % len(_COLOURS)]
        mine = shown[segment[shown] == i]
        ax.scatter(
            points[mine, 0],
            points[mine, 1],
            s=9,
            alpha=0.35,
            color=colour,
            linewidths=0,
            label=f"{seg.id}: {seg.label}  ({seg.size:,}, {seg.share:.0%})",
        )
        ax.scatter(
            centroids[i, 0],
            centroids[i, 1],
            s=260,
            marker="X",
            color=colour,
            edgecolors="black",
            zorder=3,
        )
        ax.annotate(
            seg.id,
            centroids[i],
            xytext=(9, 9),
            textcoords="offset points",
            fontsize=11,
            fontweight="bold",
            bbox={"boxstyle": "round,pad=0.2", "facecolor": "white", "alpha": 0.8},
            zorder=4,
        )
    names = model.space.names
    ax.set_xlabel(_axis_words(1, explained[0], axes_2d[:, 0], names))
    ax.set_ylabel(_axis_words(2, explained[1], axes_2d[:, 1], names))
    chosen = next(c for c in model.selection.candidates if c.k == model.selection.k)
    ax.set_title(
        title
        or f"{len(buyers):,} customers with an order in {model.selection.k} segments "
        f"(k chosen by {model.selection.criterion}: {chosen.silhouette:.2f})",
        fontsize=13,
    )
    ax.grid(alpha=0.3)
    legend = ax.legend(
        loc="upper center",
        bbox_to_anchor=(0.5, -0.1),
        ncol=1,
        fontsize=10,
        frameon=False,
        markerscale=2.5,
    )
    for handle in legend.legend_handles:
        if handle is not None:
            handle.set_alpha(1.0)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png")
    return path


def _principal_axes(centred: FloatArray) -> tuple[FloatArray, FloatArray]:
    """The first two principal directions (columns) and the share of variance of each."""
    if len(centred) < 2:
        return np.eye(centred.shape[1], 2), np.zeros(2)
    _, singular, vt = np.linalg.svd(centred, full_matrices=False)
    variance = singular**2
    total = variance.sum() or 1.0
    axes = vt[:2].T
    # A direction's sign is arbitrary: point it to where the largest loading is positive.
    axes = axes * np.sign(axes[np.abs(axes).argmax(axis=0), [0, 1]])
    explained = np.zeros(2)
    explained[: len(variance[:2])] = variance[:2] / total
    return axes, explained


def _axis_words(number: int, explained: float, loadings: FloatArray, names: tuple[str, ...]) -> str:
    top = np.argsort(-np.abs(loadings), kind="stable")[:3]
    words = ", ".join(_feature_words(names[j], loadings[j] > 0) for j in top)
    return f"component {number} ({explained:.0%} of the spread)\ntowards {words}"


def _feature_words(name: str, positive: bool) -> str:
    if name in RFM:
        more, less = _FEATURE_WORDS[name]
        return more if positive else less
    return ("more " if positive else "less ") + name.removeprefix("category:")
