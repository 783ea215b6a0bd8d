"""`relevo train` as a use case: read a workspace's signals and catalog, fit every strategy,
publish a new model version (running servers swap to it by themselves)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from relevo.jobs.progress import NO_PROGRESS, Progress
from relevo.jobs.segments import SEGMENTS, current_segments
from relevo.recs.bundle import Bundle
from relevo.recs.data import ItemTable, Kind
from relevo.recs.forgetting import Erasures, forget_erased_since
from relevo.recs.strategies import STRATEGIES
from relevo.recs.training import interactions_and_items, train_bundle
from relevo.scores.scoring import ScoreRun, score_customers
from relevo.segments import plot_segments
from relevo.services import Services
from relevo.storage.interaction_store import InteractionStore
from relevo.workspaces.keys import Workspace


@dataclass(frozen=True)
class Trained:
    workspace: str
    version: str
    path: Path
    events: int
    items: int
    users: int
    fit_seconds: dict[str, float]
    scored: int = 0  # customers whose scores were stored
    segments: int = 0
    plot: Path | None = None  # the segments' PNG
    notes: dict[str, object] | None = None  # what could not be computed, and why


def train_workspace(
    services: Services,
    workspace: Workspace,
    progress: Progress = NO_PROGRESS,
    erasures: Erasures | None = None,
) -> Trained:
    """Train and publish a new model version. People erased while it trained (after their
    events were read) are forgotten before it is published (`erasures`: the workspace's log
    of erasures, by default the database's)."""
    erasures = erasures if erasures is not None else services.erasures
    started_ms = int(time.time() * 1000)  # before the events are read
    reading = progress.begin(f"{workspace.name}: reading events")
    frame = InteractionStore(services.db).training_frame(workspace.id, reading.advance)
    reading.finish(frame.height)
    data, items = interactions_and_items(frame, services.catalog.training_items(workspace.id))
    store = services.models
    names = [name for name, spec in STRATEGIES.items() if spec.model_key == name]
    fitting = progress.begin(f"{workspace.name}: training", total=len(names))
    bundle: Bundle | None = None

    def forget_erased(folder: Path) -> None:
        # Under the store's lock: an erasure recorded after this look rewrites the version.
        if erasures is None or bundle is None:
            return
        if forget_erased_since(bundle, erasures, workspace.id, started_ms):
            bundle.replace_saved(folder)

    def fitted(name: str) -> None:
        fitting.describe(f"{workspace.name}: {name}")
        fitting.advance()

    orders = services.scores.orders_frame(workspace.id)
    previous = current_segments(services, workspace.id)
    with store.new_version(workspace.id, before_publish=forget_erased) as (version, folder):
        bundle = train_bundle(data, items, version, names, progress=fitted)
        fitting.describe(f"{workspace.name}: segments, propensity, value")
        scoring_started = time.perf_counter()
        run = score_customers(
            orders,
            _as_of(frame, orders, started_ms),
            version,
            signals=_browsing(frame),
            categories=_categories_bought(frame, items),
            previous=previous,
        )
        # Beside the models' fit times: segments, both propensities and the value model.
        bundle.stats["fit_seconds"]["scores"] = round(time.perf_counter() - scoring_started, 3)
        bundle.save(folder)
        plot = _save_segments(run, folder / SEGMENTS, workspace.name)
    scored = services.scores.replace(workspace.id, run.scores)
    fitting.describe(f"{workspace.name}: trained")
    path = store.path_of(workspace.id, version)
    return Trained(
        workspace.name,
        version,
        path,
        len(data),
        len(items),
        sum(1 for user in bundle.user_ids if user),
        bundle.stats["fit_seconds"],
        scored,
        0 if run.segments is None else len(run.segments.segments),
        None if plot is None else path / SEGMENTS / plot.name,
        run.notes,
    )


def _save_segments(run: ScoreRun, folder: Path, workspace: str) -> Path | None:
    if run.segments is None or run.customers is None:
        return None
    folder.mkdir()
    run.segments.save(folder)
    return plot_segments(
        run.segments, run.customers, folder / "segments.png", title=f"{workspace}: segments"
    )


def _as_of(frame: pl.DataFrame, orders: pl.DataFrame, started_ms: int) -> int:
    """The time the scores are judged at: now, or just after the workspace's latest event when
    it holds only history (an import of past years: "no order in 30 days" would be everyone)."""
    latest = [int(f["timestamp"].max()) for f in (frame, orders) if f.height]  # type: ignore[arg-type]
    return min(started_ms, max(latest) + 1) if latest else started_ms


def _browsing(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.filter(pl.col("kind") != int(Kind.PURCHASE)).select(
        pl.col("user_id").alias("customer_id"), "timestamp", "kind"
    )


def _categories_bought(frame: pl.DataFrame, items: ItemTable) -> pl.DataFrame:
    """(customer_id, category, score): quantities bought per top-level category."""
    top = {
        i: c.split(" > ")[0].strip()
        for i, c in zip(items.item_ids, items.categories, strict=True)
        if c
    }
    bought = frame.filter(pl.col("kind") == int(Kind.PURCHASE))
    return pl.DataFrame(
        {
            "customer_id": bought["user_id"],
            "category": bought["item_id"].replace_strict(top, default=None, return_dtype=pl.Utf8),
            "score": bought["quantity"].cast(pl.Float64),
        }
    ).filter(pl.col("category").is_not_null())
