"""Answering one recommendation request from a loaded bundle: pure, no I/O.

The requested strategy is tried first, then its fallback chain (relevo.recs.strategies); a
strategy that cannot answer (no history, no product in view, not trained) or runs out of items
after the exclusions hands over to the next one, and the answer says so. Items are filled in
chain order until `limit`, so a widget is never half empty while any strategy has items.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from relevo.recs.base import Query
from relevo.recs.bundle import Bundle
from relevo.recs.data import Kind
from relevo.recs.strategies import STRATEGIES, Needs


@dataclass(frozen=True)
class Exclusions:
    out_of_stock: bool = True
    in_view: bool = True
    in_cart: bool = True
    purchased: bool = False  # for_you already drops just-bought items that are not re-bought


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


@dataclass(frozen=True)
class Recommended:
    item: int
    score: float
    reason: str
    strategy: str


@dataclass
class Answer:
    items: list[Recommended]
    fallbacks: list[dict[str, str]]  # strategies skipped or exhausted, each with why


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
    # Seam for merchandising rules (a later issue): they narrow `allowed` and re-order here.
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
