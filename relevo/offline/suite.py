"""Everything `relevo evaluate` measures on one shop's data, with the same defaults everywhere:

- personal ranking (targets a and b): Relevo's for_you against the baselines (runner.py);
- next basket, when there are orders: bought_together and bought_after against popularity;
- basket completion, when orders have several items: bought_together, similar, popularity;
- next item in a session, when there are product views: session, item-kNN, similar, popularity.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from relevo.offline.runner import EvaluationResult, evaluate
from relevo.offline.tasks import basket_completion, next_basket, next_item
from relevo.recs.after import BoughtAfter
from relevo.recs.collaborative import ItemKNN
from relevo.recs.data import NO_GROUP, Interactions, ItemTable, Kind
from relevo.recs.sessions import SessionKNN
from relevo.recs.similar_items import SimilarItems
from relevo.recs.split import temporal_split
from relevo.recs.together import FrequentlyBoughtTogether
from relevo.recs.trending import Trending


@dataclass
class SuiteResult:
    personal: EvaluationResult | None
    tasks: dict[str, pl.DataFrame] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)


def _rows(task: str, results: dict[str, dict[str, float]]) -> pl.DataFrame:
    rows = [{"strategy": name, "target": task, **metrics} for name, metrics in results.items()]
    return pl.DataFrame(rows).with_columns(pl.col(pl.Float64).round(4))


def evaluate_suite(
    data: Interactions,
    items: ItemTable | None,
    progress: Callable[[str], None] | None = None,
    personal: bool = True,
) -> SuiteResult:
    def step(name: str) -> None:
        if progress is not None:
            progress(name)

    result = SuiteResult(None)
    purchases = data.kinds == Kind.PURCHASE
    if personal and temporal_split(data).people:
        result.personal = evaluate(data, items, progress)
    elif personal:
        result.skipped["personal"] = "nobody has interactions both before and after the cutoff"
    if (
        purchases.any()
        and np.unique(data.users[purchases]).size < np.unique(data.baskets[purchases]).size
    ):
        step("next basket")
        result.tasks["next_basket"] = _rows(
            "next_basket",
            next_basket(
                data,
                {
                    "most_popular": lambda: Trending(7.0),
                    "bought_together": FrequentlyBoughtTogether,
                    "bought_after": BoughtAfter,
                },
                items,
            ),
        )
    else:
        result.skipped["next_basket"] = "people have no second order"
    if purchases.any():
        step("basket completion")
        result.tasks["basket_completion"] = _rows(
            "basket_completion",
            basket_completion(
                data,
                {
                    "most_popular": lambda: Trending(None),
                    "bought_together": FrequentlyBoughtTogether,
                    "similar": SimilarItems,
                },
                items,
            ),
        )
    views = (data.kinds == Kind.VIEW) & (data.sessions != NO_GROUP)
    if views.any():
        step("next item in session")
        result.tasks["next_item"] = _rows(
            "next_item",
            next_item(
                data.select(data.kinds == Kind.VIEW),
                {
                    "most_popular": lambda: Trending(None),
                    "session": SessionKNN,
                    "item_knn": ItemKNN,
                    "similar": SimilarItems,
                },
                items,
            ),
        )
    else:
        result.skipped["next_item"] = "no product views with sessions"
    return result
