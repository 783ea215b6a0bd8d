"""What every ``relevo`` command shares: the console, the database option, services on an
up-to-date schema, failing with a message, progress bars."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from relevo.errors import RelevoError
from relevo.services import Services
from relevo.settings import Settings
from relevo.storage import migrate as migrations

console = Console(stderr=True)

DatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--database-url", envvar="RELEVO_DATABASE_URL", help="Default sqlite:///relevo.db"
    ),
]


def settings_for(database_url: str | None) -> Settings:
    if database_url:
        os.environ["RELEVO_DATABASE_URL"] = database_url  # uvicorn workers read it too
    return Settings()


@contextmanager
def services_for(database_url: str | None) -> Iterator[Services]:
    """Services on an up-to-date schema, closed (pools disposed) when the command ends."""
    services = Services.build(settings_for(database_url))
    try:
        if migrations.current_revision(services.db) != migrations.head_revision():
            before, after = migrations.upgrade(services.db)
            console.print(f"[dim]database schema upgraded {before or 'empty'} -> {after}[/dim]")
        yield services
    finally:
        services.close()


def fail(error: RelevoError) -> None:
    console.print(f"[red]error:[/red] {error.message}")
    raise typer.Exit(2)


def progress_bar() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )
