"""Evaluation output: a rich table for the terminal, CSV for spreadsheets, a PNG bar chart."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no screen

import matplotlib.pyplot as plt
import polars as pl
from rich.table import Table

SHOWN = ["ndcg@10", "ndcg@20", "recall@10", "recall@20", "hit@20", "mrr@20", "coverage@20"]


def rich_table(frame: pl.DataFrame, title: str) -> Table:
    columns = [c for c in frame.columns if c not in ("setting",)]
    table = Table(*columns, title=title)
    for row in frame.select(columns).iter_rows():
        table.add_row(*(f"{v:.4f}" if isinstance(v, float) else str(v) for v in row))
    return table


def write_csv(frame: pl.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.write_csv(path)


def bar_chart(frame: pl.DataFrame, path: Path, metric: str = "ndcg@20", title: str = "") -> None:
    """One bar per strategy, grouped by target (or task) in the `target` column."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if metric not in frame.columns:
        return
    groups = frame["target"].unique(maintain_order=True).to_list()
    strategies = frame["strategy"].unique(maintain_order=True).to_list()
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(strategies) * len(groups)), 4))
    width = 0.8 / max(len(strategies), 1)
    for n, strategy in enumerate(strategies):
        values = [
            frame.filter((pl.col("strategy") == strategy) & (pl.col("target") == g))[metric]
            for g in groups
        ]
        heights = [float(v[0]) if v.len() else 0.0 for v in values]
        ax.bar([g + n * width for g in range(len(groups))], heights, width, label=strategy)
    ax.set_xticks([g + width * (len(strategies) - 1) / 2 for g in range(len(groups))], groups)
    ax.set_ylabel(metric)
    ax.set_title(title or metric)
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
