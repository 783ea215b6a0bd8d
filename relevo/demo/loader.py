"""Load the demo shop: UCI Online Retail customers and their orders as Segment messages."""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.progress import Progress

from relevo.catalog.product import Product
from relevo.demo.seed import demo_catalog, demo_shop_messages, seed_demo
from relevo.errors import NotFound
from relevo.imports.events import ImportReport, import_messages
from relevo.services import Services
from relevo.workspaces.keys import NewWorkspace

DEMO_WORKSPACE = "demo"


def load_demo(
    services: Services, progress: Callable[[], Progress], customers: int | None = None
) -> NewWorkspace:
    """Create (or re-key) the demo workspace and import the shop; a re-run stores nothing twice.
    ``customers``: only that many customers (and the storefront's demo customers), for tests."""
    try:
        services.workspaces.by_name(DEMO_WORKSPACE)
        keys = services.workspaces.rekey(DEMO_WORKSPACE)
    except NotFound:
        keys = services.workspaces.create(DEMO_WORKSPACE)

    messages = demo_shop_messages(customers)
    report = ImportReport()
    with progress() as bar:
        # The catalog first, so its products are the shop's own, not "seen only in events".
        products = [Product.model_validate(p) for p in demo_catalog()]
        catalog = bar.add_task("catalog", total=len(products))
        services.catalog.upsert(keys.workspace.id, products, int(time.time() * 1000))
        bar.update(catalog, completed=len(products))
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
    seed_demo(
        services, keys.workspace.id, products
    )  # the storefront's trade prices and experiences
    return keys
