"""One recommendation request end to end: the visitor's latest signals, the live bundle, the
merchandising rules and the person's account terms, the serving core, and the answer's id.
Storage comes in through protocols (`SignalSource`, `StockSource`, `TermsSource`,
relevo.rules.live's sources, relevo.rules.audiences)."""

from __future__ import annotations

import copy
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
from relevo.recs.serving import Answer, Exclusions, Merchandising, Request, recommend
from relevo.recs.signals import signals_of
from relevo.recs.strategies import STRATEGIES
from relevo.recs.trending import AudienceTrending
from relevo.rules.account_terms import AccountTerms, assortment_mask
from relevo.rules.audiences import AudienceMembership, NoAudiences
from relevo.rules.engine import CompiledRule, compile_rules
from relevo.rules.live import LivePriceLists, LiveRules
from relevo.rules.model import Rule
from relevo.rules.outcome import RuleContext


class SignalSource(Protocol):
    def visitor_signals(
        self, workspace_id: int, identity: Identity, limit: int
    ) -> tuple[int | None, list[tuple[int, str, Any]]]:
        """Profile id (None: unknown visitor) and latest (timestamp, event, properties)."""
        ...


# A visitor's profile id (None: unknown) and latest (timestamp, event, properties), newest first.
Signals = tuple[int | None, list[tuple[int, str, Any]]]


class StockSource(Protocol):
    def stock_changes(self, workspace_id: int, since_ms: int) -> list[tuple[str, bool, int]]: ...


class TermsSource(Protocol):
    def revision(self, workspace_id: int) -> tuple[int, int, int, int]: ...
    def accounts_of(self, workspace_id: int, profile_id: int) -> list[str]: ...
    def terms(
        self, workspace_id: int, group_ids: Sequence[str], priced: Sequence[str] = ()
    ) -> list[AccountTerms]: ...
    def price_list(self, workspace_id: int, group_id: str) -> list[tuple[str, str]]: ...


@dataclass(frozen=True)
class Context:
    product_id: str | None = None
    cart: Sequence[str] = ()
    category: str | None = None
    candidates: Sequence[str] | None = None
    placement: str | None = None


@dataclass
class Outcome:
    recommendation_id: str
    version: str | None
    items: list[dict[str, Any]]
    fallbacks: list[dict[str, str]]
    unknown_products: list[str] = field(default_factory=list)
    known_visitor: bool = False
    rules: list[dict[str, Any]] = field(default_factory=list)  # every rule considered, and why
    notes: list[str] = field(default_factory=list)
    accounts: list[str] = field(default_factory=list)  # the person's accounts with terms


def _reads_prices(rule: CompiledRule) -> bool:
    return rule.condition is not None and rule.condition.prices


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
        rules: LiveRules | None = None,
        terms: TermsSource | None = None,
        audiences: AudienceMembership | None = None,
        trending: AudienceTrending | None = None,
    ) -> None:
        self.signals = signals
        self.bundles = bundles
        self.history_events = history_events
        self.stock = stock
        self.stock_check_seconds = stock_check_seconds
        self._stock_seen: dict[tuple[int, str], tuple[float, int]] = {}
        self.rules = rules
        self.terms = terms
        self.audiences: AudienceMembership = audiences or NoAudiences()
        self.trending = trending  # trending among an audience
        self._terms_seen: dict[int, tuple[float, tuple[int, int, int, int]]] = {}
        self.price_lists = None if terms is None else LivePriceLists(terms)

    def account_terms(
        self, workspace_id: int, profile_id: int | None, priced: Sequence[str] = ()
    ) -> list[AccountTerms]:
        """The terms of the person's accounts; none for an unknown visitor, and no read at all
        in a workspace without terms (looked at once per `stock_check_seconds`)."""
        if self.terms is None or profile_id is None:
            return []
        if self._terms_revision(workspace_id)[::2] == (0, 0):
            return []
        groups = self.terms.accounts_of(workspace_id, profile_id)
        return self.terms.terms(workspace_id, groups, priced) if groups else []

    def _terms_revision(self, workspace_id: int) -> tuple[int, int, int, int]:
        """The workspace's terms as of at most a second ago (what changes when they do)."""
        assert self.terms is not None
        now = time.monotonic()
        checked, revision = self._terms_seen.get(workspace_id, (-1e18, (0, 0, 0, 0)))
        if now - checked >= min(1.0, self.stock_check_seconds):
            revision = self.terms.revision(workspace_id)
            self._terms_seen[workspace_id] = (now, revision)
        return revision

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

    def visitor_signals(self, workspace_id: int, identity: Identity) -> Signals:
        """The visitor's profile id and latest product events, read once for a caller that
        asks for several blocks (``answer(signals=...)``)."""
        return self.signals.visitor_signals(workspace_id, identity, self.history_events)

    async def visitor_signals_awaited(self, workspace_id: int, identity: Identity) -> Signals:
        """``visitor_signals`` awaited where the source can (PostgreSQL's async pool)."""
        awaited = getattr(self.signals, "visitor_signals_awaited", None)
        if awaited is None:
            return self.visitor_signals(workspace_id, identity)
        found: Signals = await awaited(workspace_id, identity, self.history_events)
        return found

    def _query(
        self,
        bundle: Bundle,
        workspace_id: int,
        identity: Identity | None,
        now_ms: int,
        signals: Signals | None = None,
    ) -> tuple[Query, int | None]:
        if identity is None:
            return Query(now=now_ms), None
        profile_id, latest_first = (
            signals if signals is not None else self.visitor_signals(workspace_id, identity)
        )
        if profile_id is None:
            return Query(now=now_ms), None
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
        return query, profile_id

    def _merchandising(
        self,
        workspace_id: int,
        bundle: Bundle,
        strategy: str,
        context: Context,
        profile_id: int | None,
        terms: list[AccountTerms],
        now_ms: int,
        audiences: frozenset[str] | None = None,
        extra_rules: Sequence[Rule] = (),
        workspace_rules: bool = True,
    ) -> Merchandising | None:
        if self.rules is None:
            return None
        rules = self.rules.rules(workspace_id) if workspace_rules else []
        if not rules and not extra_rules and not any(t.has_assortment for t in terms):
            return None
        catalog = self.rules.catalog(workspace_id, bundle.version, bundle.items.item_ids)
        compiled = self.rules.compiled(workspace_id, catalog) if rules else []
        if extra_rules:
            compiled = [*compile_rules(extra_rules, catalog), *compiled]
        if audiences is None:
            audiences = (
                self.audiences.audiences_of(workspace_id, profile_id)
                if any(r.audience is not None for r in rules)
                else frozenset()
            )

        def rows(ids: Sequence[str]) -> list[int]:
            return [r for r in (catalog.index(i) for i in ids) if r is not None]

        in_view = rows([context.product_id] if context.product_id else [])
        priced = [t.group_id for t in terms if t.has_prices]
        prices = (
            self.price_lists.agreed(
                workspace_id, self._terms_revision(workspace_id), priced, catalog
            )
            if priced and self.price_lists is not None and any(_reads_prices(c) for c in compiled)
            else None
        )
        rule_context = RuleContext(
            strategy,
            context.placement,
            in_view[0] if in_view else None,
            rows(context.cart),
            audiences,
            now_ms,
            prices,
        )
        candidates = None if context.candidates is None else rows(context.candidates)
        only = assortment_mask(terms, catalog)
        return Merchandising(compiled, catalog, rule_context, candidates, only)

    def _among_audience(
        self, workspace_id: int, bundle: Bundle, audience: str, browser: bool
    ) -> tuple[Bundle, str | None]:
        """The bundle for this request, its `trending` counting the audience's members (a
        shallow copy: the shared one is left as it is), or the bundle and why not."""
        if self.trending is None:
            return bundle, "trending per audience is not available on this server"
        model, why = self.trending.model(workspace_id, audience, bundle, browser)
        if model is None:
            return bundle, why
        among = copy.copy(bundle)
        among.models = {**bundle.models, "trending": model}
        return among, None

    def answer(
        self,
        workspace_id: int,
        strategy: str,
        identity: Identity | None,
        context: Context,
        limit: int,
        exclusions: Exclusions,
        now_ms: int,
        audience: str | None = None,
        browser: bool = False,
        signals: Signals | None = None,
        audiences: frozenset[str] | None = None,
        extra_rules: Sequence[Rule] = (),
        workspace_rules: bool = True,
    ) -> Outcome:
        """``audience``: trending (asked for, or as a fallback) counts that audience's members
        first; ``browser``: asked with a browser key (small audiences are not shown).
        ``signals`` (``visitor_signals``) and ``audiences`` (the ids the visitor is in):
        already read by the caller, so a request of several blocks reads the visitor once;
        ``extra_rules``: rules of this request only (a quiz's filters and boosts), applied
        before the workspace's; ``workspace_rules=False``: without the workspace's rules (an
        experiment's "rules off" arm; account assortments still apply)."""
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
        audience_note = None
        if audience is not None:
            bundle, audience_note = self._among_audience(workspace_id, bundle, audience, browser)
        query, profile_id = self._query(bundle, workspace_id, identity, now_ms, signals)
        terms = self.account_terms(workspace_id, profile_id)
        merchandising = self._merchandising(
            workspace_id, bundle, strategy, context, profile_id, terms, now_ms, audiences,
            extra_rules, workspace_rules,
        )  # fmt: skip
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
        request = Request(
            strategy,
            query,
            limit,
            in_view,
            cart,
            context.category,
            candidates,
            exclusions,
            merchandising,
        )
        result: Answer = recommend(bundle, request)
        if audience_note is not None:
            result.fallbacks.insert(0, {"strategy": "trending", "why": audience_note})
        ids = bundle.items.item_ids if merchandising is None else merchandising.catalog.item_ids
        items = [
            {
                "product_id": ids[r.item],
                "score": round(r.score, 6),
                "reason": r.reason,
                "strategy": r.strategy,
                "rules": list(r.rules),
            }
            for r in result.items
        ]
        accounts = [t.group_id for t in terms]
        if merchandising is not None:
            # Products added since training are in the live catalog: only those it lacks are
            # unknown, and a re-rank keeps none of them (no rule could be checked on them).
            catalog = merchandising.catalog
            unknown = [i for i in unknown if catalog.index(i) is None]
            trace = [t.as_dict() for t in result.trace]
            return Outcome(rec_id, bundle.version, items, result.fallbacks, unknown,
                           profile_id is not None, trace, result.notes, accounts)  # fmt: skip
        if context.candidates is not None:
            # Re-rank returns the candidates up to the limit (every one by default): the
            # unscored ones keep their given order.
            placed = {i["product_id"] for i in items}
            items += [
                {
                    "product_id": c,
                    "score": 0.0,
                    "reason": "kept_order",
                    "strategy": "given",
                    "rules": [],
                }
                for c in dict.fromkeys(context.candidates)
                if c not in placed
            ]
            del items[limit:]
        return Outcome(rec_id, bundle.version, items, result.fallbacks, unknown,
                       profile_id is not None, accounts=accounts)  # fmt: skip
