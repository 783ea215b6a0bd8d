"""`relevo train` as a use case: read a workspace's signals and catalog, fit every strategy,
publish a new model version (running servers swap to it by themselves)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from relevo.jobs.progress import NO_PROGRESS, Progress
from relevo.recs.bundle import Bundle
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

    with store.new_version(workspace.id, before_publish=forget_erased) as (version, folder):
        bundle = train_bundle(data, items, version, names, progress=fitted)
        bundle.save(folder)
    fitting.describe(f"{workspace.name}: trained")
    return Trained(
        workspace.name,
        version,
        store.path_of(workspace.id, version),
        len(data),
        len(items),
        sum(1 for user in bundle.user_ids if user),
        bundle.stats["fit_seconds"],
    )
