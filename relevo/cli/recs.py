"""The terminal side of `relevo train` and `relevo evaluate`: progress bars and tables. The use
cases themselves are relevo.jobs.training and relevo.jobs.evaluation."""

from __future__ import annotations

from rich.progress import Progress, TaskID
from rich.table import Table

from relevo.jobs import training
from relevo.jobs.evaluation import TITLES, EvaluationReport
from relevo.jobs.progress import Step
from relevo.jobs.training import Trained
from relevo.offline.report import rich_table
from relevo.recs.forgetting import Erasures
from relevo.segments import SegmentModel
from relevo.services import Services
from relevo.workspaces.keys import Workspace


class _RichStep:
    def __init__(self, bars: Progress, task: TaskID) -> None:
        self.bars, self.task = bars, task

    def advance(self, n: int = 1) -> None:
        self.bars.advance(self.task, n)

    def describe(self, description: str) -> None:
        self.bars.update(self.task, description=description)

    def finish(self, total: int) -> None:
        self.bars.update(self.task, total=total, completed=total)


class RichProgress:
    """relevo.jobs.progress.Progress on rich's bars."""

    def __init__(self, bars: Progress) -> None:
        self.bars = bars

    def begin(self, description: str, total: int | None = None) -> Step:
        return _RichStep(self.bars, self.bars.add_task(description, total=total))


def train_workspace(
    services: Services, workspace: Workspace, bars: Progress, erasures: Erasures | None = None
) -> Trained:
    return training.train_workspace(services, workspace, RichProgress(bars), erasures)


def trained_table(results: list[Trained]) -> Table:
    table = Table("workspace", "version", "events", "items", "people", "fit seconds")
    for r in results:
        fits = ", ".join(f"{name} {seconds:.1f}" for name, seconds in r.fit_seconds.items())
        table.add_row(r.workspace, r.version, f"{r.events:,}", f"{r.items:,}", f"{r.users:,}", fits)
    return table


def evaluation_tables(report: EvaluationReport) -> list[Table]:
    return [rich_table(frame, TITLES.get(name, name)) for name, frame in report.frames().items()]


def segments_table(model: SegmentModel) -> Table:
    table = Table("id", "label", "customers", "share", "typical customer")
    for s in model.segments:
        table.add_row(s.id, s.label, f"{s.size:,}", f"{s.share:.1%}", s.summary)
    return table
