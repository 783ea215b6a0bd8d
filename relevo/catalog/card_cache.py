"""Product cards kept in memory for the pages that show many of them (decisions with
recommendation blocks): a decision reads each card from the database once, not at every
request. A product changed in any process (price, stock, deletion) is dropped from the cache
within ``check_seconds``: the cache asks which products changed since it last looked (one
indexed read of ``updated_at``), so no card is older than that.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Any, Protocol

from relevo.runtime import freeze_loaded

log = logging.getLogger(__name__)

MAX_CARDS = 200_000  # per workspace; past it the cache starts again


class CardStore(Protocol):
    """relevo.storage.catalog_store.CatalogStore."""

    def cards(self, workspace_id: int, product_ids: Sequence[str]) -> dict[str, dict[str, Any]]: ...
    def stock_changes(self, workspace_id: int, since_ms: int) -> list[tuple[str, bool, int]]: ...
    def count(self, workspace_id: int) -> int: ...
    def card_page(
        self, workspace_id: int, after: str | None, limit: int
    ) -> list[tuple[str, dict[str, Any]]]: ...


PRELOAD_PAGE = 5_000


# Another process's clock may be behind this one's: changes stamped up to this much before
# the cache's last look are still asked for.
_CLOCK_MARGIN_MS = 5_000


class _Cached:
    def __init__(self, since_ms: int) -> None:
        self.cards: dict[str, dict[str, Any] | None] = {}  # None: not in the catalog
        self.since_ms = since_ms
        self.checked = time.monotonic()


class CardCache:
    def __init__(self, store: CardStore, check_seconds: float = 1.0, preload: bool = True) -> None:
        self.store = store
        self.check_seconds = check_seconds
        # A workspace's whole catalog (up to MAX_CARDS) is read into the cache in the
        # background when it is first asked for, so that a large catalog's cards are not read
        # a few at a time for as long as it takes every product to be shown once per process.
        self.preload = preload
        self._workspaces: dict[int, _Cached] = {}
        self._lock = threading.Lock()

    def cards(self, workspace_id: int, product_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """As CardStore.cards: the cards of the products in the catalog (others left out)."""
        cached = self._fresh(workspace_id)
        missing = [p for p in dict.fromkeys(product_ids) if p not in cached.cards]
        if missing:
            found = self.store.cards(workspace_id, missing)
            with self._lock:
                if len(cached.cards) + len(missing) > MAX_CARDS:
                    cached.cards.clear()
                for product_id in missing:
                    cached.cards[product_id] = found.get(product_id)
            got: dict[str, dict[str, Any] | None] = {**cached.cards, **found}
        else:
            got = cached.cards
        result: dict[str, dict[str, Any]] = {}
        for product_id in product_ids:
            card = got.get(product_id)
            if card is not None:
                result[product_id] = card
        return result

    def _fresh(self, workspace_id: int) -> _Cached:
        now_ms = int(time.time() * 1000)
        with self._lock:
            cached = self._workspaces.get(workspace_id)
            if cached is None:
                cached = self._workspaces[workspace_id] = _Cached(now_ms - _CLOCK_MARGIN_MS)
                if self.preload:
                    threading.Thread(
                        target=self._preload, args=(workspace_id, cached), daemon=True,
                        name="relevo-cards",
                    ).start()  # fmt: skip
                return cached
        if time.monotonic() - cached.checked < self.check_seconds:
            return cached
        changes = self.store.stock_changes(workspace_id, cached.since_ms)
        with self._lock:
            for product_id, _, _ in changes:
                cached.cards.pop(product_id, None)
            # A change committed after this look but stamped before it, by a slower clock or
            # a long transaction, is still within the margin of the next one.
            cached.since_ms = now_ms - _CLOCK_MARGIN_MS
            cached.checked = time.monotonic()
        return cached

    def _preload(self, workspace_id: int, cached: _Cached) -> None:
        """Every card, a page at a time; a card the requests cached meanwhile, or a product
        changed meanwhile (dropped by the next look), is left as it is."""
        try:
            if self.store.count(workspace_id) > MAX_CARDS:
                return
            after: str | None = None
            while True:
                started = int(time.time() * 1000) - _CLOCK_MARGIN_MS
                page = self.store.card_page(workspace_id, after, PRELOAD_PAGE)
                if not page:
                    freeze_loaded()  # the whole catalog's cards now live as long as the cache
                    return
                changed = {p for p, _, _ in self.store.stock_changes(workspace_id, started)}
                with self._lock:
                    for product_id, card in page:
                        if product_id not in changed:
                            cached.cards.setdefault(product_id, card)
                after = page[-1][0]
        except Exception:
            log.exception("preloading the product cards failed; they are read as asked for")
