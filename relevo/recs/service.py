"""One recommendation request end to end: the visitor's latest signals, the live bundle, the
serving core, and the answer's id. Storage comes in through the `SignalSource` protocol."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from relevo.identity.identities import Identity
from relevo.recs.base import Query
from relevo.recs.bundle import Bundle
from relevo.recs.errors import UnknownStrategy
from relevo.recs.live import LiveBundles
from relevo.recs.serving import Answer, Exclusions, Request, recommend
from relevo.recs.signals import signals_of
from relevo.recs.strategies import STRATEGIES


class SignalSource(Protocol):
    def visitor_signals(
        self, workspace_id: int, identity: Identity, limit: int
    ) -> tuple[int | None, list[tuple[int, str, Any]]]:
        """Profile id (None: unknown visitor) and latest (timestamp, event, properties)."""
        ...


class StockSource(Protocol):
    def stock_changes(self, workspace_id: int, since_ms: int) -> list[tuple[str, bool, int]]: ...


@dataclass(frozen=True)
class Context:
    product_id: str | None = None
    cart: Sequence[str] = ()
    category: str | None = None
    candidates: Sequence[str] | None = None


@dataclass
class Outcome:
    recommendation_id: str
    version: str | None
    items: list[dict[str, Any]]
    fallbacks: list[dict[str, str]]
    unknown_products: list[str] = field(default_factory=list)
    known_visitor: bool = False


def new_recommendation_id() -> str:
    return f"rec_{uuid.uuid4().hex}"


class Recommendations:
    def __init__(
        self,
        signals: SignalSource,
        bundles: LiveBundles,
        history_events: int,
        stock: StockSource | None = None,
        stock_check_seconds: float = 2.0,
    ) -> None:
        self.signals = signals
        self.bundles = bundles
        self.history_events = history_events
        self.stock = stock
        self.stock_check_seconds = stock_check_seconds
        self._stock_seen: dict[tuple[int, str], tuple[float, int]] = {}

    def _refresh_stock(self, workspace_id: int, bundle: Bundle) -> None:
        """Apply catalog changes since the model was trained (or since the last look) to its
        in-stock mask, so "in stock only" follows the shop's stock, not the training day's."""
        if self.stock is None:
            return
        key = (workspace_id, bundle.version)
        now = time.monotonic()
        checked, since = self._stock_seen.get(key, (-1e18, bundle.trained_ms - 60_000))
        if now - checked < self.stock_check_seconds:
            return
        latest = since
        for product_id, sellable, updated_at in self.stock.stock_changes(workspace_id, since):
            index = bundle.item_index(product_id)
            if index is not None:
                bundle.items.in_stock[index] = sellable
            latest = max(latest, updated_at)
        self._stock_seen[key] = (now, latest)

    def _query(
        self, bundle: Bundle, workspace_id: int, identity: Identity | None, now_ms: int
    ) -> tuple[Query, bool]:
        if identity is None:
            return Query(now=now_ms), False
        profile_id, latest_first = self.signals.visitor_signals(
            workspace_id, identity, self.history_events
        )
        if profile_id is None:
            return Query(now=now_ms), False
        items, times, kinds = [], [], []
        for timestamp, event, properties in reversed(latest_first):
            for signal in signals_of(event, properties):
                index = bundle.item_index(signal.item_id)
                if index is not None:
                    items.append(index)
                    times.append(timestamp)
                    kinds.append(int(signal.kind))
        query = Query(
            now=now_ms,
            user=bundle.user_index(profile_id),
            history=np.asarray(items, dtype=np.int32),
            history_times=np.asarray(times, dtype=np.int64),
            history_kinds=np.asarray(kinds, dtype=np.int8),
        )
        return query, True

    def answer(
        self,
        workspace_id: int,
        strategy: str,
        identity: Identity | None,
        context: Context,
        limit: int,
        exclusions: Exclusions,
        now_ms: int,
    ) -> Outcome:
        if strategy not in STRATEGIES:
            raise UnknownStrategy(
                f"unknown strategy {strategy!r}; available: {', '.join(sorted(STRATEGIES))}",
                available=sorted(STRATEGIES),
            )
        rec_id = new_recommendation_id()
        bundle = self.bundles.get(workspace_id)
        if bundle is None:
            why = "no model trained for this workspace yet (run `relevo train`)"
            return Outcome(rec_id, None, [], [{"strategy": strategy, "why": why}])
        self._refresh_stock(workspace_id, bundle)
        query, known = self._query(bundle, workspace_id, identity, now_ms)
        unknown: list[str] = []

        def indexes(ids: Sequence[str]) -> list[int]:
            found = []
            for item_id in ids:
                index = bundle.item_index(item_id)
                if index is None:
                    unknown.append(item_id)
                else:
                    found.append(index)
            return found

        in_view = indexes([context.product_id] if context.product_id else [])
        cart = indexes(context.cart)
        candidates = None if context.candidates is None else indexes(context.candidates)
        query = Query(
            now=query.now,
            user=query.user,
            history=query.history,
            history_times=query.history_times,
            history_kinds=query.history_kinds,
            context_items=np.asarray(in_view + cart, dtype=np.int32),
        )
        result: Answer = recommend(
            bundle,
            Request(
                strategy, query, limit, in_view, cart, context.category, candidates, exclusions
            ),
        )
        items = [
            {
                "product_id": bundle.items.item_ids[r.item],
                "score": round(r.score, 6),
                "reason": r.reason,
                "strategy": r.strategy,
            }
            for r in result.items
        ]
        if context.candidates is not None:
            # Re-rank returns the candidates up to the limit (every one by default): the
            # unscored ones keep their given order.
            placed = {i["product_id"] for i in items}
            items += [
                {"product_id": c, "score": 0.0, "reason": "kept_order", "strategy": "given"}
                for c in dict.fromkeys(context.candidates)
                if c not in placed
            ]
            del items[limit:]
        return Outcome(rec_id, bundle.version, items, result.fallbacks, unknown, known)
