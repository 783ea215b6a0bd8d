"""The rules a server process applies, and the live catalog they read, kept in memory per
workspace and refreshed the way stock is: at most once per `check_seconds`, a cheap look for
changes, then only what changed.

    rules    re-read and compiled when the workspace's revision (count, latest update) moves
    catalog  CatalogColumns in the item index space of the bundle being served, built in full
             when a bundle is first served with rules, then updated with the product rows
             changed since the last look (price, sale price, stock, attributes, new products)

A workspace without rules (and without account terms: relevo.recs.service decides) never
builds its columns. `LivePriceLists` keeps accounts' agreed prices over those columns, for the
rules of their members. A definition that no longer parses (saved by an older version) is skipped
and logged, never raised on a request.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from relevo.rules.account_terms import AgreedPrices, lowest_prices, price_rows
from relevo.rules.catalog import CatalogColumns
from relevo.rules.engine import CompiledRule, compile_rules
from relevo.rules.errors import InvalidRule
from relevo.rules.model import Rule, parse_rule

log = logging.getLogger(__name__)
# A product written just before a look may commit just after it, with an updated_at before the
# look: each look reads again the rows of the last seconds before the previous one (by the
# wall clock, so that a bulk load with one updated_at is not read again forever), and applies
# only those it has not applied yet. Servers' clocks may differ from the writers' by this much.
_OVERLAP_MS = 2_000


class RuleSource(Protocol):
    def revision(self, workspace_id: int) -> tuple[int, int]: ...
    def definitions(self, workspace_id: int) -> list[dict[str, Any]]: ...


class CatalogRows(Protocol):
    def catalog_rows(self, workspace_id: int, since_ms: int | None) -> list[dict[str, Any]]:
        """Product rows for CatalogColumns (deleted ones included, with `deleted`), those
        updated at or after `since_ms` (None: every row); each with `updated_at`."""
        ...


@dataclass
class _Rules:
    revision: tuple[int, int]
    rules: list[Rule]
    checked: float
    compiled: list[CompiledRule] = field(default_factory=list)


@dataclass
class _Catalog:
    key: tuple[str, ...]  # the bundle version it is aligned with
    columns: CatalogColumns
    since_ms: int
    checked: float
    applied: dict[str, int] = field(default_factory=dict)  # product: updated_at applied


class LiveRules:
    def __init__(
        self,
        rules: RuleSource,
        catalog: CatalogRows,
        check_seconds: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        wall_ms: Callable[[], int] = lambda: int(time.time() * 1000),
    ) -> None:
        self.source, self.catalog_source = rules, catalog
        self.check_seconds = check_seconds
        self.clock = clock
        self.wall_ms = wall_ms
        self._rules: dict[int, _Rules] = {}
        self._catalogs: dict[int, _Catalog] = {}
        self._lock = threading.Lock()

    def rules(self, workspace_id: int) -> list[Rule]:
        """The workspace's rules as of at most `check_seconds` ago."""
        return self._current(workspace_id).rules

    def invalidate(self, workspace_id: int) -> None:
        """This process changed the rules: look again on the next request."""
        with self._lock:
            entry = self._rules.get(workspace_id)
            if entry is not None:
                entry.checked = -1e18

    def _current(self, workspace_id: int) -> _Rules:
        now = self.clock()
        entry = self._rules.get(workspace_id)
        if entry is not None and now - entry.checked < self.check_seconds:
            return entry
        with self._lock:
            revision = self.source.revision(workspace_id)
            entry = self._rules.get(workspace_id)
            if entry is not None and entry.revision == revision:
                entry.checked = now
                return entry
            rules = []
            for definition in self.source.definitions(workspace_id):
                try:
                    rules.append(parse_rule(definition))
                except InvalidRule as error:
                    log.warning("rule %s of workspace %s skipped: %s",
                                definition.get("id"), workspace_id, error)  # fmt: skip
            entry = _Rules(revision, rules, now)
            self._rules[workspace_id] = entry  # one assignment: a request sees old or new
            return entry

    def compiled(self, workspace_id: int, catalog: CatalogColumns) -> list[CompiledRule]:
        """The rules compiled, their catalog-only masks primed on this catalog."""
        entry = self._current(workspace_id)
        if not entry.compiled and entry.rules:
            entry.compiled = compile_rules(entry.rules, catalog)
        return entry.compiled

    def catalog(self, workspace_id: int, version: str, item_ids: Sequence[str]) -> CatalogColumns:
        """The live catalog aligned with the bundle `version` (row i = item_ids[i], products
        added since training after them), updated with the rows changed since the last look."""
        now = self.clock()
        entry = self._catalogs.get(workspace_id)
        if entry is not None and entry.key == (version,):
            if now - entry.checked >= self.check_seconds:
                with self._lock:
                    self._update(workspace_id, entry, now)
            return entry.columns
        with self._lock:
            entry = self._catalogs.get(workspace_id)
            if entry is None or entry.key != (version,):
                since = self.wall_ms() - _OVERLAP_MS
                rows = self.catalog_source.catalog_rows(workspace_id, None)
                columns = CatalogColumns.from_rows(rows, item_ids)
                applied = {r["product_id"]: int(r.get("updated_at") or 0) for r in rows}
                entry = _Catalog((version,), columns, since, now, applied)
                self._catalogs[workspace_id] = entry
            return entry.columns

    def _update(self, workspace_id: int, entry: _Catalog, now: float) -> None:
        if now - entry.checked < self.check_seconds:
            return  # another request looked meanwhile
        since = self.wall_ms() - _OVERLAP_MS
        rows = [
            r
            for r in self.catalog_source.catalog_rows(workspace_id, entry.since_ms)
            if entry.applied.get(r["product_id"], -1) < int(r.get("updated_at") or 0)
        ]
        if rows:
            entry.columns.update(rows)
            entry.applied.update((r["product_id"], int(r.get("updated_at") or 0)) for r in rows)
        entry.since_ms, entry.checked = since, now


class PriceLists(Protocol):
    def price_list(self, workspace_id: int, group_id: str) -> list[tuple[str, str]]:
        """An account's whole price list, (product_id, price as decimal text)."""
        ...


class LivePriceLists:
    """Accounts' price lists over the live catalog's rows, kept per process: read again when
    the workspace's terms move (`revision`, looked at by the caller at most once a second) or
    the catalog is another one or has grown (a product added since may now have a row)."""

    def __init__(self, source: PriceLists, max_lists: int = 1000) -> None:
        self.source, self.max_lists = source, max_lists
        self._lists: dict[tuple[int, str], tuple[tuple[Any, ...], AgreedPrices]] = {}
        self._lock = threading.Lock()

    def agreed(
        self,
        workspace_id: int,
        revision: tuple[int, ...],
        group_ids: Sequence[str],
        catalog: CatalogColumns,
    ) -> AgreedPrices | None:
        """The lowest agreed price of each catalog row over these accounts (None: none)."""
        key = (revision, id(catalog), len(catalog))
        lists = []
        for group in group_ids:
            entry = self._lists.get((workspace_id, group))
            if entry is None or entry[0] != key:
                with self._lock:
                    prices = price_rows(self.source.price_list(workspace_id, group), catalog)
                    if len(self._lists) >= self.max_lists:
                        self._lists.clear()
                    entry = self._lists[(workspace_id, group)] = (key, prices)
            lists.append(entry[1])
        return lowest_prices(lists)
