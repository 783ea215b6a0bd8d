"""``relevo``: serve, migrate, manage workspaces, import data, load the demo shop."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from relevo.catalog.feeds.formats import FeedFormat, open_feed
from relevo.cli.common import (
    DatabaseOption,
    console,
    fail,
    progress_bar,
    services_for,
    settings_for,
)
from relevo.cli.experiments import experiments_app
from relevo.cli.keys import print_keys, source_app, workspace_app
from relevo.errors import RelevoError
from relevo.imports.catalog import import_products
from relevo.imports.events import ImportReport, import_messages, open_text, read_jsonl
from relevo.imports.orders import read_orders
from relevo.runtime import tune_for_server
from relevo.services import Services
from relevo.storage import migrate as migrations

app = typer.Typer(help="Relevo: self-hosted personalization engine.", no_args_is_help=True)
import_app = typer.Typer(help="Import events, offline orders or products into a workspace.")
app.add_typer(workspace_app, name="workspace")
app.add_typer(source_app, name="source")
app.add_typer(import_app, name="import")
app.add_typer(experiments_app, name="experiments")


@app.command()
def migrate(database_url: DatabaseOption = None) -> None:
    """Create or upgrade the database schema to the newest version."""
    services = Services.build(settings_for(database_url))
    try:
        before, after = migrations.upgrade(services.db)
    finally:
        services.close()
    console.print(f"schema at {after} (was {before or 'empty'})")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes")] = 1,
    database_url: DatabaseOption = None,
) -> None:
    """Start the HTTP API (creates or upgrades the schema first)."""
    from relevo.api.workers import WorkerPool, serve_one

    with services_for(database_url) as services:
        console.print(
            f"Relevo listening on http://{host}:{port}  (API docs: http://{host}:{port}/docs)"
        )
        if workers == 1:
            serve_one(host, port)
            return
        os.environ["RELEVO_WORKERS"] = str(workers)  # each worker's share of the rate limits
        background = audience_job = allocation = None
        if services.settings.run_materializer:
            # The supervisor process is idle: it folds events into profiles and runs the
            # audience job, so no worker shares its interpreter lock with either.
            os.environ["RELEVO_RUN_MATERIALIZER"] = "false"
            tune_for_server()
            background = services.background()
            background.start()
            audience_job = services.audience_job_thread()
            audience_job.start()
            allocation = services.allocation_thread()  # thompson experiments' weights
            allocation.start()
        try:
            WorkerPool(host, port, workers).run()
        finally:
            if audience_job is not None:
                audience_job.stop()
            if allocation is not None:
                allocation.stop()
            if background is not None:
                background.stop()


def _run_import(
    services: Services,
    workspace_name: str,
    messages: Callable[[], Iterator[tuple[int, Any]]],
    description: str,
    total: int | None,
) -> ImportReport:
    try:
        workspace = services.workspaces.by_name(workspace_name)
    except RelevoError as error:
        fail(error)
        raise
    report = ImportReport()
    with progress_bar() as progress:
        task = progress.add_task(description, total=total)
        import_messages(
            services.ingest,
            workspace.id,
            messages(),
            report,
            on_progress=lambda n: progress.advance(task, n),
        )
        profiles = progress.add_task("profiles", total=None)
        processed = services.materializer.catch_up()
        progress.update(profiles, completed=processed, total=processed)
    console.print(
        f"{report.lines} lines: {report.stored} stored, {report.duplicates} already stored, "
        f"{len(report.rejected)} rejected"
    )
    for line, reason in report.rejected[:20]:
        console.print(f"  [yellow]line {line}[/yellow]: {reason}")
    if len(report.rejected) > 20:
        console.print(f"  ... and {len(report.rejected) - 20} more (all kept in quarantine)")
    return report


def _count_lines(path: Path) -> int:
    with open_text(path) as handle:
        return sum(1 for line in handle if line.strip())


@import_app.command("events")
def import_events(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="JSONL, may be gzipped")
    ],
    workspace: Annotated[str, typer.Option(help="Workspace name")],
    database_url: DatabaseOption = None,
) -> None:
    """Import Segment-format messages, one per line (re-running stores nothing twice)."""

    def lines() -> Iterator[tuple[int, Any]]:
        with open_text(file) as handle:
            yield from read_jsonl(handle)

    with services_for(database_url) as services:
        report = _run_import(services, workspace, lines, "events", _count_lines(file))
    raise typer.Exit(1 if report.rejected else 0)


@import_app.command("orders")
def import_orders(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV, may be gzipped")],
    workspace: Annotated[str, typer.Option(help="Workspace name")],
    database_url: DatabaseOption = None,
) -> None:
    """Import offline/POS orders (one row per order line, keyed by customer_id or email)."""
    with services_for(database_url) as services:
        report = _run_import(services, workspace, lambda: read_orders(file), "orders", None)
    raise typer.Exit(1 if report.rejected else 0)


@import_app.command("catalog")
def import_catalog(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="May be gzipped")],
    workspace: Annotated[str, typer.Option(help="Workspace name")],
    feed_format: Annotated[
        FeedFormat, typer.Option("--format", help="auto: from the name and first bytes")
    ] = FeedFormat.AUTO,
    database_url: DatabaseOption = None,
) -> None:
    """Import products: Google Merchant Center feed (RSS XML or TSV), CSV or JSONL."""
    with services_for(database_url) as services:
        try:
            found = services.workspaces.by_name(workspace)
        except RelevoError as error:
            fail(error)
            raise
        with progress_bar() as progress, open_feed(file, feed_format) as rows:
            task = progress.add_task("products", total=None)
            report = import_products(
                services.catalog,
                found.id,
                rows,
                int(time.time() * 1000),
                on_progress=lambda n: progress.advance(task, n),
            )
    console.print(
        f"{report.rows} rows: {report.stored} products stored, {len(report.rejected)} rejected"
    )
    for rejected in report.rejected[:20]:
        label = f" ({rejected.product_id})" if rejected.product_id else ""
        console.print(f"  [yellow]row {rejected.line}{label}[/yellow]: {rejected.reason}")
    if len(report.rejected) > 20:
        console.print(f"  ... and {len(report.rejected) - 20} more")
    raise typer.Exit(1 if report.rejected else 0)


@app.command()
def train(
    workspace: Annotated[
        str | None, typer.Option(help="Workspace name (default: every workspace)")
    ] = None,
    database_url: DatabaseOption = None,
) -> None:
    """Train every recommendation strategy; running servers swap to the new version."""
    from relevo.cli.recs import train_workspace, trained_table

    with services_for(database_url) as services:
        chosen = _workspaces(services, workspace)
        with progress_bar() as progress:
            results = [train_workspace(services, w, progress) for w in chosen]
    console.print(trained_table(results))
    for r in results:
        console.print(f"{r.workspace}: model version {r.version} in {r.path}")
        console.print(
            f"{r.workspace}: {r.scored:,} customers scored, {r.segments} segments"
            + (f", plot {r.plot}" if r.plot is not None else "")
        )
        for part, note in (r.notes or {}).items():
            if isinstance(note, str):
                console.print(f"  [yellow]{part}[/yellow]: {note}")


@app.command()
def segments(
    workspace: Annotated[str, typer.Option(help="Workspace name")],
    plot: Annotated[
        Path | None, typer.Option(help="Copy the segments' plot (PNG) to this file")
    ] = None,
    database_url: DatabaseOption = None,
) -> None:
    """The automatic segments of the served model version (computed by `relevo train`)."""
    import shutil

    from relevo.cli.recs import segments_table
    from relevo.jobs.segments import SEGMENTS, current_segments

    with services_for(database_url) as services:
        found = _workspaces(services, workspace)[0]
        model = current_segments(services, found.id)
        version = services.models.current_version(found.id)
        if model is None or version is None:
            fail(RelevoError(f"{workspace}: no segments yet; run `relevo train` first"))
            return
        console.print(segments_table(model))
        stored = services.models.path_of(found.id, version) / SEGMENTS / "segments.png"
    console.print(
        f"criterion: {model.selection.criterion}, k = {model.selection.k}; {model.covers}"
    )
    if plot is not None:
        plot.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(stored, plot)
        console.print(f"plot written to {plot}")
    else:
        console.print(f"plot: {stored}")


@app.command()
def evaluate(
    workspace: Annotated[
        str | None,
        typer.Option(help="Workspace name (default: every workspace with product events)"),
    ] = None,
    as_json: Annotated[
        bool,
        typer.Option("--json", help="Print results as JSON (a list when no --workspace is given)"),
    ] = False,
    output: Annotated[Path, typer.Option(help="Folder for the CSV tables and the plot")] = Path(
        "relevo-evaluation"
    ),
    database_url: DatabaseOption = None,
) -> None:
    """Offline evaluation on the workspace's own data: temporal split, full ranking,
    Relevo's strategies against the baselines (tables, CSV and a plot)."""
    from relevo.cli.recs import RichProgress, evaluation_tables
    from relevo.jobs.evaluation import evaluate_workspace

    reports = []
    with services_for(database_url) as services:
        for found in _workspaces(services, workspace):
            with progress_bar() as progress:
                try:
                    reports.append(
                        evaluate_workspace(
                            services, found, output / found.name, RichProgress(progress)
                        )
                    )
                except RelevoError as error:
                    if workspace is not None:
                        fail(error)
                    console.print(f"{found.name}: skipped ({error.message})")
    if as_json:
        shapes = [report.as_json() for report in reports]
        typer.echo(json.dumps(shapes[0] if workspace is not None else shapes, indent=2))
    else:
        for report in reports:
            for table in evaluation_tables(report):
                console.print(table)
    for report in reports:
        console.print(f"{report.workspace}: CSV and plot written to {report.folder}")


def _workspaces(services: Services, name: str | None) -> list[Any]:
    if name is None:
        return services.workspaces.all()
    try:
        return [services.workspaces.by_name(name)]
    except RelevoError as error:
        fail(error)
        raise


@app.command()
def demo(
    serve_after: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Start the API after loading")
    ] = True,
    train_models: Annotated[
        bool, typer.Option("--train/--no-train", help="Train the recommenders after loading")
    ] = True,
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    customers: Annotated[
        int | None,
        typer.Option(help="Only this many customers (and the storefront's own): a small demo"),
    ] = None,
    database_url: DatabaseOption = None,
) -> None:
    """Load the demo shop (UCI Online Retail, CC BY 4.0), train its recommenders and start
    Relevo; the demo storefront is at /demo."""
    from relevo.cli.recs import train_workspace, trained_table
    from relevo.demo.loader import load_demo

    with services_for(database_url) as services:
        started = time.perf_counter()
        keys = load_demo(services, progress_bar, customers)
        typer.echo(f"demo shop loaded in {time.perf_counter() - started:.0f} s")
        if train_models:
            with progress_bar() as progress:
                trained = train_workspace(services, keys.workspace, progress)
            console.print(trained_table([trained]))
    typer.echo("")
    print_keys(keys)
    base = f"http://127.0.0.1:{port}"
    typer.echo(f"storefront: {base}/demo  (the demo shop; its top bar switches personas)")
    typer.echo(f"API docs:   {base}/docs")
    typer.echo(
        f"a profile: curl -H 'Authorization: Bearer {keys.secret_key}' "
        f"{base}/v1/profiles/user_id/12347"
    )
    typer.echo(
        f"for you:   curl -H 'Authorization: Bearer {keys.secret_key}' "
        f"-H 'Content-Type: application/json' {base}/v1/recommendations "
        """-d '{"strategy": "for_you", "identity": {"kind": "user_id", "value": "12347"}}'"""
    )
    if serve_after:
        serve(port=port, database_url=database_url)
