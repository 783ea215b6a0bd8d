"""Load the demo shop: UCI Online Retail customers and their orders as Segment messages."""

from __future__ import annotations

from collections.abc import Callable

from rich.progress import Progress

from relevo.errors import NotFound
from relevo.imports.events import ImportReport, import_messages
from relevo.services import Services
from relevo.workspaces.keys import NewWorkspace

DEMO_WORKSPACE = "demo"


def load_demo(services: Services, progress: Callable[[], Progress]) -> NewWorkspace:
    """Create (or re-key) the demo workspace and import the shop; a re-run stores nothing twice."""
    from relevo.demo.online_retail import (
        DEMO_DATA_PATH,
        customer_identify_messages,
        group_orders,
        order_to_message,
        read_invoice_lines,
    )

    try:
        services.workspaces.by_name(DEMO_WORKSPACE)
        keys = services.workspaces.rotate_secret(DEMO_WORKSPACE)
    except NotFound:
        keys = services.workspaces.create(DEMO_WORKSPACE)

    orders = list(group_orders(read_invoice_lines(DEMO_DATA_PATH)))
    messages = [*customer_identify_messages(orders), *(order_to_message(o) for o in orders)]
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
