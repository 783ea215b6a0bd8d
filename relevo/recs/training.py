"""From a workspace's signals and catalog to a trained bundle: pure, no I/O.

`relevo train` reads the inputs (storage), calls `train_bundle`, and writes the result through
the model store; `relevo evaluate` reuses `interactions_and_items`.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import polars as pl

from relevo.recs.bundle import Bundle
from relevo.recs.data import CatalogItem, Interactions, ItemTable
from relevo.recs.strategies import STRATEGIES

SESSION_GAP_MS = 30 * 60_000


def with_sessions(frame: pl.DataFrame, gap_ms: int = SESSION_GAP_MS) -> pl.DataFrame:
    """Adds session_id: a person's events split where they were inactive for `gap_ms`
    (a frame that already has session ids keeps them)."""
    if "session_id" in frame.columns:
        return frame
    return (
        frame.sort(["user_id", "timestamp"])
        .with_columns(
            (pl.col("timestamp").diff().over("user_id").fill_null(gap_ms + 1) > gap_ms)
            .cast(pl.Int64)
            .cum_sum()
            .alias("session_id")
        )
        .sort("timestamp", maintain_order=True)
    )


def interactions_and_items(
    frame: pl.DataFrame, catalog: Sequence[CatalogItem]
) -> tuple[Interactions, ItemTable]:
    """One item index space for the catalog and every product seen in events."""
    known = {item.item_id: item for item in catalog}
    seen = frame["item_id"].unique().sort().to_list() if frame.height else []
    item_ids = [item.item_id for item in catalog] + [i for i in seen if i not in known]
    rows = [known.get(i, CatalogItem(i)) for i in item_ids]
    items = ItemTable(
        item_ids=item_ids,
        titles=[r.title for r in rows],
        descriptions=[r.description for r in rows],
        brands=[r.brand for r in rows],
        categories=[r.category for r in rows],
        prices=np.array([math.nan if r.price is None else r.price for r in rows], dtype=float),
        in_stock=np.array([r.in_stock for r in rows], dtype=bool),
    )
    data = Interactions.from_frame(with_sessions(frame), item_ids=item_ids)
    return data, items


def train_bundle(
    data: Interactions,
    items: ItemTable,
    version: str,
    strategies: Iterable[str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> Bundle:
    """Fits every strategy (or the named ones) on the same data; records fit seconds."""
    models = {}
    seconds: dict[str, float] = {}
    for name in strategies or STRATEGIES:
        spec = STRATEGIES[name]
        if spec.model_key != name:
            continue  # served by another strategy's model (re-rank uses for_you)
        if progress is not None:
            progress(name)
        started = time.perf_counter()
        model = spec.model()
        model.fit(data, items)
        models[name] = model
        seconds[name] = round(time.perf_counter() - started, 3)
    return Bundle(
        version=version,
        items=items,
        user_ids=list(data.user_ids),
        models=models,
        trained_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        stats={"events": len(data), "fit_seconds": seconds},
    )
