"""`relevo evaluate` as a use case: the offline evaluation on a workspace's own data, with its
CSV tables and plots written to a folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from relevo.errors import RelevoError
from relevo.jobs.progress import NO_PROGRESS, Progress
from relevo.offline.report import bar_chart, write_csv
from relevo.offline.suite import SuiteResult, evaluate_suite
from relevo.recs.training import interactions_and_items
from relevo.services import Services
from relevo.storage.interaction_store import InteractionStore
from relevo.workspaces.keys import Workspace

TITLES = {
    "personal": "personal ranking: (a) all purchases, (b) new items only",
    "next_basket": "next basket",
    "basket_completion": "basket completion (one item held out)",
    "next_item": "next product viewed in the session",
}


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
    services: Services, workspace: Workspace, folder: Path, progress: Progress = NO_PROGRESS
) -> EvaluationReport:
    reading = progress.begin(f"{workspace.name}: reading events")
    frame = InteractionStore(services.db).training_frame(workspace.id, reading.advance)
    reading.finish(frame.height)
    if frame.height == 0:
        raise RelevoError(f"workspace {workspace.name!r} has no product events to evaluate on")
    data, items = interactions_and_items(frame, services.catalog.training_items(workspace.id))
    steps = progress.begin(f"{workspace.name}: evaluating")

    def step(name: str) -> None:
        steps.describe(f"{workspace.name}: {name}")
        steps.advance()

    suite = evaluate_suite(data, items, step)
    report = EvaluationReport(workspace.name, suite, folder)
    for name, table in report.frames().items():
        write_csv(table, folder / f"{name}.csv")
        bar_chart(table, folder / f"{name}.png", title=f"{workspace.name}: {name}")
    return report
