"""`relevo evaluate` as a use case: the offline evaluation on a workspace's own data, with its
CSV tables and plots written to a folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from relevo.errors import RelevoError
from relevo.jobs.progress import NO_PROGRESS, Progress
from relevo.offline.propensity import (
    PropensityEvaluation,
    calibration_plot,
    evaluate_propensity,
    fits_propensity,
)
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
    "propensity": "an order in the next 30 days: Relevo against the references",
}


@dataclass
class EvaluationReport:
    workspace: str
    suite: SuiteResult
    folder: Path
    propensity: PropensityEvaluation | None = None

    def frames(self) -> dict[str, pl.DataFrame]:
        frames = dict(self.suite.tasks)
        if self.suite.personal is not None:
            frames = {"personal": self.suite.personal.table, **frames}
        if self.propensity is not None:
            frames["propensity"] = self.propensity.table
        return frames

    def as_json(self) -> dict[str, object]:
        personal = self.suite.personal
        return {
            "workspace": self.workspace,
            "cutoff_ms": None if personal is None else personal.cutoff_ms,
            "for_you_choice": None if personal is None else personal.for_you,
            "results": {
                name: frame.to_dicts()
                for name, frame in self.frames().items()
                if name != "propensity"
            },
            "propensity": None if self.propensity is None else self.propensity.as_json(),
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
    orders = services.scores.orders_frame(workspace.id)
    why_not = fits_propensity(orders)
    if why_not is None:
        step("propensity")
        signals = frame.filter(pl.col("kind") != 2).select(
            pl.col("user_id").alias("customer_id"), "timestamp", "kind"
        )
        report.propensity = evaluate_propensity(orders, signals)
        calibration_plot(
            report.propensity,
            folder / "propensity_calibration.png",
            title=f"{workspace.name}: calibration",
        )
    else:
        suite.skipped["propensity"] = why_not
    for name, table in report.frames().items():
        write_csv(table, folder / f"{name}.csv")
        if name != "propensity":
            bar_chart(table, folder / f"{name}.png", title=f"{workspace.name}: {name}")
    return report
