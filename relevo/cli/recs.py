"""`relevo train` and `relevo evaluate`: read a workspace's signals and catalog, fit or measure
the recommenders, write versioned models (the running server swaps to them by itself)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import polars as pl
from rich.progress import Progress
from rich.table import Table

from relevo.errors import RelevoError
from relevo.offline.report import bar_chart, rich_table, write_csv
from relevo.offline.suite import SuiteResult, evaluate_suite
from relevo.recs.bundle import Bundle
from relevo.recs.data import CatalogItem
from relevo.recs.forgetting import Erasures, forget_erased_since
from relevo.recs.strategies import STRATEGIES
from relevo.recs.training import interactions_and_items, train_bundle
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


def catalog_items(services: Services, workspace_id: int) -> list[CatalogItem]:
    return services.catalog.training_items(workspace_id)


def train_workspace(
    services: Services,
    workspace: Workspace,
    progress: Progress,
    erasures: Erasures | None = None,
) -> Trained:
    """Train and publish a new model version. People erased while it trained (after their
    events were read) are forgotten before it is published (`erasures`: the workspace's log
    of erasures, by default the database's)."""
    erasures = erasures if erasures is not None else services.erasures
    started_ms = int(time.time() * 1000)  # before the events are read
    reading = progress.add_task(f"{workspace.name}: reading events", total=None)
    frame = InteractionStore(services.db).training_frame(
        workspace.id, lambda n: progress.advance(reading, n)
    )
    progress.update(reading, total=frame.height, completed=frame.height)
    data, items = interactions_and_items(frame, catalog_items(services, workspace.id))
    store = services.models
    names = [name for name, spec in STRATEGIES.items() if spec.model_key == name]
    fitting = progress.add_task(f"{workspace.name}: training", total=len(names))
    bundle: Bundle | None = None

    def forget_erased(folder: Path) -> None:
        # Under the store's lock: an erasure recorded after this look rewrites the version.
        if erasures is None or bundle is None:
            return
        if forget_erased_since(bundle, erasures, workspace.id, started_ms):
            bundle.replace_saved(folder)

    with store.new_version(workspace.id, before_publish=forget_erased) as (version, folder):
        bundle = train_bundle(
            data,
            items,
            version,
            names,
            progress=lambda name: progress.update(
                fitting, description=f"{workspace.name}: {name}", advance=1
            ),
        )
        bundle.save(folder)
    progress.update(fitting, description=f"{workspace.name}: trained")
    return Trained(
        workspace.name,
        version,
        store.path_of(workspace.id, version),
        len(data),
        len(items),
        sum(1 for user in bundle.user_ids if user),
        bundle.stats["fit_seconds"],
    )


def trained_table(results: list[Trained]) -> Table:
    table = Table("workspace", "version", "events", "items", "people", "fit seconds")
    for r in results:
        fits = ", ".join(f"{name} {seconds:.1f}" for name, seconds in r.fit_seconds.items())
        table.add_row(r.workspace, r.version, f"{r.events:,}", f"{r.items:,}", f"{r.users:,}", fits)
    return table


@dataclass
class EvaluationReport:
    workspace: str
    suite: SuiteResult
    folder: Path

    def frames(self) -> dict[str, pl.DataFrame]:
        frames = dict(self.suite.tasks)
        if self.suite.personal is not None:
            frames = {"personal": self.suite.personal.table, **frames}
        return frames

    def tables(self) -> list[Table]:
        titles = {
            "personal": "personal ranking: (a) all purchases, (b) new items only",
            "next_basket": "next basket",
            "basket_completion": "basket completion (one item held out)",
            "next_item": "next product viewed in the session",
        }
        return [rich_table(frame, titles.get(name, name)) for name, frame in self.frames().items()]

    def as_json(self) -> dict[str, object]:
        personal = self.suite.personal
        return {
            "workspace": self.workspace,
            "cutoff_ms": None if personal is None else personal.cutoff_ms,
            "for_you_choice": None if personal is None else personal.for_you,
            "results": {name: frame.to_dicts() for name, frame in self.frames().items()},
            "skipped": self.suite.skipped,
        }


def evaluate_workspace(
    services: Services, workspace: Workspace, progress: Progress, folder: Path
) -> EvaluationReport:
    reading = progress.add_task(f"{workspace.name}: reading events", total=None)
    frame = InteractionStore(services.db).training_frame(
        workspace.id, lambda n: progress.advance(reading, n)
    )
    progress.update(reading, total=frame.height, completed=frame.height)
    if frame.height == 0:
        raise RelevoError(f"workspace {workspace.name!r} has no product events to evaluate on")
    data, items = interactions_and_items(frame, catalog_items(services, workspace.id))
    steps = progress.add_task(f"{workspace.name}: evaluating", total=None)
    suite = evaluate_suite(
        data,
        items,
        lambda name: progress.update(steps, description=f"{workspace.name}: {name}", advance=1),
    )
    report = EvaluationReport(workspace.name, suite, folder)
    for name, table in report.frames().items():
        write_csv(table, folder / f"{name}.csv")
        bar_chart(table, folder / f"{name}.png", title=f"{workspace.name}: {name}")
    return report
