"""`relevo experiments report`: an experiment's results as a table in the terminal and a PNG
of the uplift over time (relevo.experiments.analysis does the work)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from relevo.cli.common import DatabaseOption, console, fail, services_for
from relevo.errors import RelevoError
from relevo.experiments.analysis.data import Period
from relevo.experiments.analysis.plot import plot_uplift
from relevo.experiments.analysis.service import ExperimentAnalysis, ExperimentResults
from relevo.experiments.stats import BayesianEstimate, FrequentistEstimate
from relevo.storage.experiment_data import ExperimentDataStore

experiments_app = typer.Typer(help="Experiments: results and reports.", no_args_is_help=True)


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:+.1f}%"


def results_table(found: ExperimentResults) -> Table:
    plan = found.plan
    table = Table(
        "goal", "variation", "units", "conversions / total", "rate / mean", "uplift",
        "95% CI" if plan.alpha == 0.05 else f"{1 - plan.alpha:.0%} CI", "chance to win",
        title=f"{plan.name} ({plan.experiment_id}, {found.status})",
    )  # fmt: skip
    for result in found.metrics:
        metric = result.metric
        by_variation = {c.variation.name: c for c in result.comparisons}
        label = metric.name + (" (guardrail)" if metric.guardrail else "")
        for variation, sums in result.arms.items():
            mean = (sums.x / sums.d if sums.d else None) if metric.is_ratio else (
                sums.x / sums.n if sums.n else None
            )  # fmt: skip
            rate = "-" if mean is None else (
                f"{100 * mean:.2f}%" if metric.kind == "conversion" else f"{mean:,.2f}"
            )  # fmt: skip
            comparison = by_variation.get(variation)
            uplift = ci = chance = "" if comparison is None else "-"
            if comparison is not None and isinstance(comparison.frequentist, FrequentistEstimate):
                f = comparison.frequentist
                uplift = _percent(f.estimate)
                ci = f"[{_percent(f.ci.low)}, {_percent(f.ci.high)}]"
            if comparison is not None and isinstance(comparison.bayesian, BayesianEstimate):
                chance = f"{comparison.bayesian.chance_to_win:.1%}"
            total = f"{sums.x:,.0f}" if metric.kind == "conversion" else f"{sums.x:,.2f}"
            table.add_row(
                label, variation + (" (control)" if variation == plan.control else ""),
                f"{sums.n:,}", total, rate, uplift, ci, chance,
            )  # fmt: skip
            label = ""
    return table


def srm_line(found: ExperimentResults) -> str:
    srm = found.srm
    verdict = "[red]MISMATCH: do not trust the uplift[/red]" if srm.flagged else "ok"
    observed = ", ".join(f"{v} {n:,}" for v, n in found.units.items())
    return f"SRM (sample ratio check): p = {srm.p_value:.3g} ({verdict}); units {observed}"


@experiments_app.command("report")
def report(
    experiment_id: Annotated[str, typer.Argument(help="The experiment's id")],
    workspace: Annotated[
        str | None, typer.Option(help="Workspace name (default: the only workspace)")
    ] = None,
    start: Annotated[
        str | None, typer.Option("--from", help="Exposures from this ISO date or time")
    ] = None,
    end: Annotated[
        str | None, typer.Option("--to", help="Exposures before this ISO date or time")
    ] = None,
    png: Annotated[
        Path | None, typer.Option(help="Write the uplift over time (PNG) to this file")
    ] = None,
    database_url: DatabaseOption = None,
) -> None:
    """An experiment's results: units, conversions, rates, uplift with its interval, chance
    to win, the sample-ratio check; with --png, the uplift over time with its interval."""
    from relevo.api.routes.experiment_results import period_of

    with services_for(database_url) as services:
        try:
            chosen = services.workspaces.by_name(workspace) if workspace is not None else None
            if chosen is None:
                every = services.workspaces.all()
                if len(every) != 1:
                    raise RelevoError(f"{len(every)} workspaces: name one with --workspace")
                chosen = every[0]
            period: Period = period_of(start, end)
            found = ExperimentAnalysis(ExperimentDataStore(services.db)).results(
                chosen.id, experiment_id, period
            )
        except RelevoError as error:
            fail(error)
            return
    console.print(results_table(found))
    console.print(srm_line(found))
    for roi in found.roi:
        if roi.incremental_revenue is not None and roi.interval is not None:
            console.print(
                f"incremental revenue of {roi.variation}: {roi.incremental_revenue:,.2f} "
                f"[{roi.interval[0]:,.2f}, {roi.interval[1]:,.2f}] over {roi.treated_units:,} units"
            )
    if png is not None:
        plot_uplift(found.timeline, png, f"{found.plan.name}: uplift over time",
                    found.plan.metrics[0].name)  # fmt: skip
        console.print(f"plot written to {png}")
