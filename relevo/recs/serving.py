"""Answering one recommendation request from a loaded bundle: pure, no I/O.

The requested strategy is tried first, then its fallback chain (relevo.recs.strategies); a
strategy that cannot answer (no history, no product in view, not trained) or runs out of items
after the exclusions hands over to the next one, and the answer says so. Items are filled in
chain order until `limit`, so a widget is never half empty while any strategy has items.

With `Request.merchandising` (rules, the live catalog, an account's assortment), the answer is
filled through relevo.rules instead: the filters and the assortment narrow what every strategy
of the chain may propose (a fallback never brings back what a rule removed), each strategy's
scores are boosted and buried, and one page is filled under the pins, caps and brand conflicts
across the whole chain. Items are then rows of the live catalog: the bundle's items first,
products added since training after them (those only a pin or a re-rank can place).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from relevo.recs.base import Query, Recommender
from relevo.recs.bundle import Bundle
from relevo.recs.data import Kind
from relevo.recs.strategies import STRATEGIES, Needs
from relevo.rules.catalog import CatalogColumns
from relevo.rules.engine import CompiledRule, plan_rules
from relevo.rules.outcome import RuleContext, RuleTrace

GIVEN = "given"  # re-rank: candidates no strategy scored, in the order they were given


@dataclass(frozen=True)
class Exclusions:
    out_of_stock: bool = True
    in_view: bool = True
    in_cart: bool = True
    purchased: bool = False  # for_you already drops just-bought items that are not re-bought


@dataclass(frozen=True)
class Merchandising:
    """What relevo.rules needs for one request; rows are live catalog rows."""

    rules: Sequence[CompiledRule]
    catalog: CatalogColumns
    context: RuleContext  # in_view and cart as catalog rows
    candidates: list[int] | None = None  # re-rank, as catalog rows
    only: npt.NDArray[np.bool_] | None = None  # an account's assortment over the catalog


@dataclass(frozen=True)
class Request:
    strategy: str
    query: Query
    limit: int
    in_view: list[int] = field(default_factory=list)
    cart: list[int] = field(default_factory=list)
    category: str | None = None
    candidates: list[int] | None = None  # re-rank: only these, in item index space
    exclusions: Exclusions = Exclusions()
    merchandising: Merchandising | None = None


@dataclass(frozen=True)
class Recommended:
    item: int  # a bundle item, or a live catalog row with merchandising
    score: float
    reason: str
    strategy: str
    rules: tuple[str, ...] = ()


@dataclass
class Answer:
    items: list[Recommended]
    fallbacks: list[dict[str, str]]  # strategies skipped or exhausted, each with why
    trace: list[RuleTrace] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _why_not(name: str, bundle: Bundle, query: Query) -> str | None:
    spec = STRATEGIES[name]
    if spec.model_key not in bundle.models:
        return "not trained yet (run `relevo train`)"
    if spec.needs is Needs.ITEMS and query.context_items.size == 0:
        return "needs a product in view or in the cart"
    if spec.needs is Needs.HISTORY and query.history.size == 0 and query.user is None:
        return "the visitor has no product history yet"
    return None


def _allowed(bundle: Bundle, request: Request) -> npt.NDArray[np.bool_]:
    allowed = np.ones(len(bundle.items), dtype=bool)
    rules = request.exclusions
    if rules.out_of_stock:
        allowed &= bundle.items.in_stock
    if rules.in_view and request.in_view:
        allowed[request.in_view] = False
    if rules.in_cart and request.cart:
        allowed[request.cart] = False
    if rules.purchased:
        query = request.query
        allowed[query.history[query.history_kinds == Kind.PURCHASE]] = False
    if request.category:
        allowed &= bundle.in_category(request.category)
    if request.candidates is not None:
        only = np.zeros(len(bundle.items), dtype=bool)
        only[request.candidates] = True
        allowed &= only
    return allowed


def _top(scores: npt.NDArray[np.float32], allowed: npt.NDArray[np.bool_], k: int) -> list[int]:
    # Partition only the usable scores: a partition over a catalog that is mostly excluded
    # (many equal values) degenerates to milliseconds.
    usable = np.flatnonzero(allowed & (scores > 0))  # NaN and -inf fail `> 0`
    if usable.size == 0 or k <= 0:
        return []
    values = scores[usable]
    if usable.size > k:
        part = np.argpartition(values, usable.size - k)[-k:]
        usable, values = usable[part], values[part]
    order = np.lexsort((usable, -values))  # ties broken by index: stable answers
    return [int(i) for i in usable[order]]


def recommend(bundle: Bundle, request: Request) -> Answer:
    if request.merchandising is not None:
        return _recommend_ruled(bundle, request, request.merchandising)
    chain = [request.strategy, *STRATEGIES[request.strategy].fallbacks]
    allowed = _allowed(bundle, request)
    answer = Answer([], [])
    for name in chain:
        if len(answer.items) >= request.limit:
            break
        why = _why_not(name, bundle, request.query)
        if why is not None:
            answer.fallbacks.append({"strategy": name, "why": why})
            continue
        model = bundle.models[STRATEGIES[name].model_key]
        scores = model.score(request.query)
        allowed &= ~np.isneginf(scores)  # "never" (e.g. just bought) holds for the fallbacks too
        picked = _top(scores, allowed, request.limit - len(answer.items))
        for item in picked:
            reason = model.explain(request.query, item)
            answer.items.append(Recommended(item, float(scores[item]), reason, name))
            allowed[item] = False
        if len(answer.items) < request.limit:
            answer.fallbacks.append(
                {"strategy": name, "why": f"{len(picked)} items left after exclusions"}
            )
    return answer


def _allowed_rows(bundle: Bundle, request: Request, m: Merchandising) -> npt.NDArray[np.bool_]:
    """The request's own exclusions over the live catalog: the bundle's rows as `_allowed`
    says, products added since training by the catalog's columns."""
    catalog, known = m.catalog, len(bundle.items)
    allowed = np.zeros(len(catalog), dtype=bool)
    allowed[:known] = _allowed(bundle, request)[: len(catalog)]
    if len(catalog) > known:
        new = np.ones(len(catalog) - known, dtype=bool)
        if request.exclusions.out_of_stock:
            new &= catalog.in_stock[known:]
        if request.category:
            new &= catalog.under(request.category)[catalog.category[known:]]
        allowed[known:] = new
        excluded = []
        if request.exclusions.in_view and m.context.in_view is not None:
            excluded.append(m.context.in_view)
        if request.exclusions.in_cart:
            excluded += list(m.context.cart)
        allowed[[r for r in excluded if r >= known]] = False
    if m.candidates is not None:
        only = np.zeros(len(catalog), dtype=bool)
        only[m.candidates] = True
        allowed &= only
    if m.only is not None:
        allowed &= m.only
    return allowed


def _recommend_ruled(bundle: Bundle, request: Request, m: Merchandising) -> Answer:
    chain = [request.strategy, *STRATEGIES[request.strategy].fallbacks]
    plan = plan_rules(m.rules, m.catalog, m.context, _allowed_rows(bundle, request, m))
    page = plan.page(request.limit)
    allowed = plan.allowed.copy()
    known = len(bundle.items)
    models: dict[str, Recommender] = {}
    fallbacks: list[dict[str, str]] = []
    for name in chain:
        if page.missing <= 0:
            break
        why = _why_not(name, bundle, request.query)
        if why is not None:
            fallbacks.append({"strategy": name, "why": why})
            continue
        model = models[name] = bundle.models[STRATEGIES[name].model_key]
        scores = model.score(request.query)
        allowed[:known] &= ~np.isneginf(scores)
        added = page.fill(plan.adjust(scores), allowed, name)
        if page.missing > 0:
            fallbacks.append(
                {"strategy": name, "why": f"{len(added)} items left after exclusions and rules"}
            )
    if m.candidates is not None and page.missing > 0:
        # The candidates no strategy scored keep their given order, under the rules too.
        given = np.zeros(len(m.catalog), dtype=np.float32)
        order = list(dict.fromkeys(m.candidates))
        given[order] = np.arange(len(order), 0, -1, dtype=np.float32) / (len(order) + 1)
        page.fill(plan.adjust(given), allowed, GIVEN)
    answer = Answer([], fallbacks, plan.trace, plan.notes)
    for ruled in plan.finish(page):
        source = models.get(ruled.source)
        if ruled.pinned_by is not None:
            reason = f"pinned:{ruled.pinned_by}"
        elif source is not None and ruled.item < known:
            reason = source.explain(request.query, ruled.item)
        else:
            reason = "kept_order"
        score = 0.0 if ruled.source == GIVEN else ruled.score
        strategy = ruled.source or "pin"  # pinned while no strategy could answer
        answer.items.append(Recommended(ruled.item, score, reason, strategy, ruled.rules))
    return answer
