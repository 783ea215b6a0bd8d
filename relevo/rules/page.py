"""Filling one answer under pins, diversity caps and brand conflicts: the only sequential part
of applying rules, and it walks only the top of the ranking, never the catalog.

A `Page` lives for one request and may be filled from several score arrays in turn (serving's
fallback chain): the caps and conflicts hold over the whole answer, whichever strategy an item
came from. Candidates are taken best first (ties: lower item index first) in rounds of a few
more than are missing; after a round, every remaining candidate of a group that reached its cap
or of a brand in conflict with the page is dropped at once, so an item held back is never
looked at again and the rounds stay few.

Pins are placed before anything else, in rule priority order, and obey the filters, the caps
and the conflicts like any item; the items they place count toward the caps and set the brands
shown. Then the other items fill the slots left, in rank order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from relevo.rules.catalog import Bools, CatalogColumns, Codes
from relevo.rules.outcome import APPLIED, SKIPPED, RuledItem, RuleTrace

Floats = npt.NDArray[np.float32]
Items = npt.NDArray[np.int64]
_SLACK = 16  # candidates taken beyond those missing, for the ones the caps will hold back


@dataclass
class Pin:
    trace: RuleTrace
    slot: int
    item: int | None = None  # a product pin
    mask: Bools | None = None  # or the best-scored item matching this
    source_reason: Callable[[int], str] | None = None  # why an item is not allowed
    placed: int = -1  # the item it placed in this request


@dataclass
class Cap:
    """At most `most` answer items per group; an item in no group (-1) is not counted."""

    trace: RuleTrace
    label: str
    most: int
    column: Codes | None  # group codes by item; None: every matching item is one group
    table: Codes | None = None  # maps column codes to group codes (category levels)
    mask: Bools | None = None  # only these items count
    counts: dict[int, int] = field(default_factory=dict)

    def groups(self, items: Items) -> Codes:
        if self.column is None:
            codes = np.zeros(items.size, dtype=np.int32)
        else:
            codes = self.column[items]
            if self.table is not None:
                codes = self.table[codes]
        if self.mask is not None:
            codes = np.where(self.mask[items], codes, -1).astype(np.int32)
        return codes

    def full(self) -> list[int]:
        return [group for group, n in self.counts.items() if n >= self.most]


@dataclass
class Conflict:
    """Brands in groups; once a brand of one group is on the page, the other groups' are out."""

    trace: RuleTrace
    brand_group: Codes  # by brand code, one longer (brand -1 reads -1)
    brands: Codes  # the catalog's brand column
    names: list[list[str]]
    shown: int = -1

    def groups(self, items: Items) -> Codes:
        result: Codes = self.brand_group[self.brands[items]]
        return result


class Page:
    def __init__(
        self,
        limit: int,
        catalog: CatalogColumns,
        pins: list[Pin],
        caps: list[Cap],
        conflicts: list[Conflict],
        touches: list[tuple[str, Callable[[Items], Bools]]],
        allowed: Bools,
    ) -> None:
        self.limit = max(0, limit)
        self.catalog = catalog
        self.allowed = allowed  # for pins when no strategy fills the page
        self.pins, self.caps, self.conflicts = pins, caps, conflicts
        self.touches = touches
        self.pinned: dict[int, tuple[int, float, str, str]] = {}  # slot: item, score, rule, source
        self.filled: list[tuple[int, float, str]] = []  # item, score, source
        self.placed: set[int] = set()
        self._pins_placed = False

    @property
    def missing(self) -> int:
        return self.limit - len(self.pinned) - len(self.filled)

    def fill(self, scores: Floats, allowed: Bools, source: str = "") -> list[int]:
        """Add the best of these candidates (allowed, score > 0, not on the page yet) that
        the caps and conflicts let in, until the page is full; returns the items added, in
        order. The first call places the pins first, chosen with these scores."""
        if not self._pins_placed:
            self._place_pins(scores, allowed, source)
        if self.missing <= 0:
            return []
        usable = allowed & (scores > 0)  # NaN and -inf fail `> 0`
        if self.placed:
            usable[list(self.placed)] = False
        items = np.flatnonzero(usable)
        if self.caps or self.conflicts:
            items = items[~self._blocked(items)]
        values = scores[items]
        added: list[int] = []
        while self.missing > 0 and items.size:
            ranked = _best(
                items, values, self.missing + (_SLACK if self.caps or self.conflicts else 0)
            )
            for item in self._admit(items[ranked]).tolist():
                self.filled.append((item, float(scores[item]), source))
                self.placed.add(item)
                added.append(item)
            if ranked.size == items.size:
                break
            rest = np.ones(items.size, dtype=bool)
            rest[ranked] = False
            items, values = items[rest], values[rest]
            if self.caps or self.conflicts:
                keep = ~self._blocked(items)
                items, values = items[keep], values[keep]
        return added

    def finish(self) -> list[RuledItem]:
        """The answer: pins at their slots, the other items around them in order (when there
        are too few, the pins move up and keep their order)."""
        if not self._pins_placed:
            self._place_pins(None, self.allowed, "")
        pins = sorted(self.pinned.items())
        fillers = iter(self.filled)
        order: list[tuple[int, float, str, str | None]] = []
        for slot, (item, score, rule_id, source) in pins:
            while len(order) + 1 < slot:
                filler = next(fillers, None)
                if filler is None:
                    break
                order.append((*filler, None))
            order.append((item, score, source, rule_id))
        order += [(*filler, None) for filler in fillers]
        order = order[: self.limit]
        answer = np.asarray([o[0] for o in order], dtype=np.int64)
        touched = [(rule_id, touch(answer).tolist()) for rule_id, touch in self.touches]
        return [
            RuledItem(
                item,
                score,
                tuple(rule_id for rule_id, hits in touched if hits[position]),
                pinned_by,
                source,
            )
            for position, (item, score, source, pinned_by) in enumerate(order)
        ]

    def _place_pins(self, scores: Floats | None, allowed: Bools | None, source: str) -> None:
        self._pins_placed = True
        for pin in self.pins:
            why = self._pin(pin, scores, allowed, source)
            if why is not None:
                pin.trace.status, pin.trace.why = SKIPPED, why

    def _pin(
        self, pin: Pin, scores: Floats | None, allowed: Bools | None, source: str
    ) -> str | None:
        if pin.slot > self.limit:
            return f"slot {pin.slot} is past the {self.limit} items asked for"
        if pin.slot in self.pinned:
            return f"slot {pin.slot} is taken by rule {self.pinned[pin.slot][2]}"
        if pin.item is not None:
            item = pin.item
            if item in self.placed:
                return "its product is already pinned by another rule"
            if allowed is None or not allowed[item]:
                return pin.source_reason(item) if pin.source_reason else "not allowed"
            if scores is not None and not scores[item] > -np.inf:
                return "its recommender rules it out for this visitor (e.g. just bought)"
            if self._blocked(np.asarray([item]))[0]:
                return f"would break rule {self._blocker(item)}"
        else:
            if scores is None or allowed is None or pin.mask is None:
                return "no strategy scored items to choose from"
            usable = allowed & pin.mask & (scores > -np.inf)
            if self.placed:
                usable[list(self.placed)] = False
            candidates = np.flatnonzero(usable)
            if candidates.size == 0:
                return "matched no item"
            candidates = candidates[~self._blocked(candidates)]
            if candidates.size == 0:
                return "every matching item would break a cap or a brand conflict"
            item = int(candidates[_best(candidates, scores[candidates], 1)[0]])
        score = float(scores[item]) if scores is not None else 0.0
        self._count(item)
        self.pinned[pin.slot] = (item, score, pin.trace.rule_id, source)
        self.placed.add(item)
        pin.placed = item
        pin.trace.status = APPLIED
        pin.trace.why = f"{self.catalog.item_ids[item]} at slot {pin.slot}"
        pin.trace.items = 1
        return None

    def _admit(self, ranked: Items) -> Items:
        """The first of these (best first) that fit, counted in as they are admitted."""
        if not (self.caps or self.conflicts):
            return ranked[: self.missing]
        cap_groups = [cap.groups(ranked).tolist() for cap in self.caps]
        brand_groups = [conflict.groups(ranked).tolist() for conflict in self.conflicts]
        admitted: list[int] = []
        for position, item in enumerate(ranked.tolist()):
            if len(admitted) == self.missing:
                break
            held = self._holder(position, cap_groups, brand_groups)
            if held is not None:
                held.items += 1
                continue
            for cap, groups in zip(self.caps, cap_groups, strict=True):
                if groups[position] >= 0:
                    cap.counts[groups[position]] = cap.counts.get(groups[position], 0) + 1
            for conflict, groups in zip(self.conflicts, brand_groups, strict=True):
                if groups[position] >= 0:
                    conflict.shown = groups[position]
            admitted.append(item)
        return np.asarray(admitted, dtype=np.int64)

    def _holder(
        self, position: int, cap_groups: list[list[int]], brand_groups: list[list[int]]
    ) -> RuleTrace | None:
        for cap, groups in zip(self.caps, cap_groups, strict=True):
            group = groups[position]
            if group >= 0 and cap.counts.get(group, 0) >= cap.most:
                return cap.trace
        for conflict, groups in zip(self.conflicts, brand_groups, strict=True):
            group = groups[position]
            if group >= 0 and conflict.shown not in (-1, group):
                return conflict.trace
        return None

    def _count(self, item: int) -> None:
        one = np.asarray([item], dtype=np.int64)
        for cap in self.caps:
            group = int(cap.groups(one)[0])
            if group >= 0:
                cap.counts[group] = cap.counts.get(group, 0) + 1
        for conflict in self.conflicts:
            group = int(conflict.groups(one)[0])
            if group >= 0:
                conflict.shown = group

    def _blocked(self, items: Items) -> Bools:
        """Items that would break a cap or a conflict given what the page shows now."""
        blocked = np.zeros(items.size, dtype=bool)
        for cap in self.caps:
            full = cap.full()
            if full:
                blocked |= np.isin(cap.groups(items), np.asarray(full, dtype=np.int32))
        for conflict in self.conflicts:
            if conflict.shown >= 0:
                groups = conflict.groups(items)
                blocked |= (groups >= 0) & (groups != conflict.shown)
        return blocked

    def _blocker(self, item: int) -> str:
        one = np.asarray([item], dtype=np.int64)
        found = self._holder(
            0,
            [cap.groups(one).tolist() for cap in self.caps],
            [conflict.groups(one).tolist() for conflict in self.conflicts],
        )
        return found.rule_id if found is not None else "?"

    def set_in_view_brand(self, item: int | None) -> None:
        """The product in view is on the page: its brand counts for the conflicts."""
        if item is None or not 0 <= item < len(self.catalog):
            return
        one = np.asarray([item], dtype=np.int64)
        for conflict in self.conflicts:
            group = int(conflict.groups(one)[0])
            if group >= 0:
                conflict.shown = group


def _best(items: Items, values: Floats, k: int) -> Items:
    """Positions of the k best values, best first; equal values by lower item first, also
    across the cut (`items` ascending, as np.flatnonzero gives them)."""
    n = items.size
    if k >= n:
        return np.lexsort((items, -values))
    part = np.argpartition(values, n - k)[n - k :]
    cut = values[part].min()
    above = np.flatnonzero(values > cut)
    ties = np.flatnonzero(values == cut)[: k - above.size]
    chosen = np.concatenate([above, ties])
    return chosen[np.lexsort((items[chosen], -values[chosen]))]
