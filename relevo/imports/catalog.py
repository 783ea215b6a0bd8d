"""Importing a product feed file into a workspace's catalog, in batches, with a report of the
rows that were rejected and why (the others are stored; re-running replaces, never doubles)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from relevo.catalog.feeds.rows import Rejected, Row
from relevo.catalog.product import Product
from relevo.storage.catalog_store import CatalogStore

BATCH = 2000


@dataclass
class CatalogReport:
    rows: int = 0
    stored: int = 0
    rejected: list[Rejected] = field(default_factory=list)


def import_products(
    store: CatalogStore,
    workspace_id: int,
    rows: Iterable[Row],
    now_ms: int,
    on_progress: Callable[[int], None] | None = None,
) -> CatalogReport:
    report = CatalogReport()
    batch: list[Product] = []

    def flush() -> None:
        if batch:
            report.stored += store.upsert(workspace_id, batch, now_ms)
            if on_progress is not None:
                on_progress(len(batch))
            batch.clear()

    for row in rows:
        report.rows += 1
        if isinstance(row, Rejected):
            report.rejected.append(row)
            continue
        batch.append(row)
        if len(batch) >= BATCH:
            flush()
    flush()
    return report
