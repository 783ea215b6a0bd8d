"""What applying rules takes from a request and gives back: the context, each returned item with
the rules that touched it, and the trace of every rule considered."""

from __future__ import annotations

from collections.abc import Sequence, Set
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from relevo.rules.account_terms import AgreedPrices

APPLIED = "applied"
SKIPPED = "skipped"


@dataclass(frozen=True)
class RuleContext:
    """The request as rules see it. Items are catalog row indexes (relevo.rules.catalog)."""

    strategy: str  # the strategy asked for: a rule scoped to it holds for its fallbacks too
    placement: str | None = None
    in_view: int | None = None
    cart: Sequence[int] = ()
    audiences: Set[str] = frozenset()  # the visitor's audience ids
    now_ms: int = 0
    # A member's agreed prices (their accounts' price lists): conditions on price, sale price,
    # on_sale and price_within compare these instead of the list prices.
    prices: AgreedPrices | None = None


@dataclass
class RuleTrace:
    """One rule considered for a request: applied, or skipped and why."""

    rule_id: str
    kind: str
    status: str  # APPLIED or SKIPPED
    why: str
    items: int = 0  # items it removed, re-scored, placed or held back in this request

    def as_dict(self) -> dict[str, str | int]:
        return {
            "rule": self.rule_id,
            "kind": self.kind,
            "status": self.status,
            "why": self.why,
            "items": self.items,
        }


@dataclass(frozen=True)
class RuledItem:
    item: int
    score: float  # after boosts and buries
    rules: tuple[str, ...]  # ids of the rules that touched it, in the order they apply
    pinned_by: str | None = None
    source: str = ""  # the strategy whose scores placed it (Page.fill's `source`)


@dataclass
class RuledAnswer:
    allowed: npt.NDArray[np.bool_]  # after the filters
    scores: npt.NDArray[np.float32]  # after boosts and buries (the input array when none)
    items: list[RuledItem]
    trace: list[RuleTrace]
    notes: list[str] = field(default_factory=list)  # what the engine had to work around
