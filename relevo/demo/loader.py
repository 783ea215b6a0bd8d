"""Load the demo shop: UCI Online Retail customers and their orders as Segment messages."""

from __future__ import annotations

from collections.abc import Callable

from rich.progress import Progress

from relevo.demo.uci_retail import demo_messages
from relevo.errors import NotFound
from relevo.imports.events import ImportReport, import_messages
from relevo.services import Services
from relevo.workspaces.keys import NewWorkspace

DEMO_WORKSPACE = "demo"


def load_demo(services: Services, progress: Callable[[], Progress]) -> NewWorkspace:
    """Create (or re-key) the demo workspace and import the shop; a re-run stores nothing twice."""
    try:
        services.workspaces.by_name(DEMO_WORKSPACE)
        keys = services.workspaces.rotate_secret(DEMO_WORKSPACE)
    except NotFound:
        keys = services.workspaces.create(DEMO_WORKSPACE)

    messages = demo_messages()
    report = ImportReport()
    with progress() as bar:
        task = bar.add_task("demo shop", total=len(messages))
        import_messages(
            services.ingest,
            keys.workspace.id,
            enumerate(messages, start=1),
            report,
            source="demo",
            on_progress=lambda n: bar.advance(task, n),
        )
        profiles = bar.add_task("profiles", total=None)
        done = services.materializer.catch_up()
        bar.update(profiles, total=done, completed=done)
    return keys
