"""The named strategies a placement can ask for, the model behind each, and the fallback chain
it hands over to when it cannot answer (or runs out of items after the exclusions).

    for_you          personal ranking, whole history    -> session -> trending
    similar          content + co-view/co-purchase      -> trending
    bought_together  association rules from orders     -> similar -> trending
    bought_after     later orders of its buyers         -> bought_together -> similar -> trending
    session          next items from this visit         -> recently_viewed -> trending
    recently_viewed  the visitor's own recent views     -> trending
    trending         time-decayed popularity (a category filter narrows it; an audience
                     counts only its members' interactions first)
    rerank           the given candidates, for_you order -> trending order -> given order
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from relevo.recs.after import BoughtAfter
from relevo.recs.base import Recommender
from relevo.recs.personal import ForYou
from relevo.recs.sessions import RecentlyViewed, SessionKNN
from relevo.recs.similar_items import SimilarItems
from relevo.recs.together import FrequentlyBoughtTogether
from relevo.recs.trending import ServedTrending


class Needs(Enum):
    NOTHING = "nothing"
    HISTORY = "history"  # the visitor's past signals (or a trained user)
    ITEMS = "items"  # a product in view or in the cart


@dataclass(frozen=True)
class StrategySpec:
    name: str
    model: type[Recommender]
    needs: Needs
    fallbacks: tuple[str, ...]
    uses: str = ""  # the bundle's model it answers from; default its own

    @property
    def model_key(self) -> str:
        return self.uses or self.name


_SPECS = [
    StrategySpec("for_you", ForYou, Needs.HISTORY, ("session", "trending")),
    StrategySpec("similar", SimilarItems, Needs.ITEMS, ("trending",)),
    StrategySpec(
        "bought_together",
        FrequentlyBoughtTogether,
        Needs.ITEMS,
        ("similar", "trending"),
    ),
    StrategySpec(
        "bought_after",
        BoughtAfter,
        Needs.ITEMS,
        ("bought_together", "similar", "trending"),
    ),
    StrategySpec(
        "session",
        SessionKNN,
        Needs.HISTORY,
        ("recently_viewed", "trending"),
    ),
    StrategySpec(
        "recently_viewed",
        RecentlyViewed,
        Needs.HISTORY,
        ("trending",),
    ),
    StrategySpec("trending", ServedTrending, Needs.NOTHING, ()),
    StrategySpec("rerank", ForYou, Needs.HISTORY, ("trending",), uses="for_you"),
]
STRATEGIES: dict[str, StrategySpec] = {spec.name: spec for spec in _SPECS}
