"""Applying merchandising rules to one request, vectorised over the candidates.

    compiled = compile_rules(rules, catalog)        # once, when rules or the bundle change
    answer = apply_rules(scores, allowed, catalog, context, compiled, limit)

Order of application, and what each step may change:

1. gate: a rule disabled, out of its schedule, out of scope (the strategy asked for, the
   placement) or for an audience the visitor is not in is skipped, and the trace says which;
2. filters narrow `allowed` (all of them: the order does not matter); an item a filter removed
   never comes back, neither by a pin nor from a later strategy of the fallback chain;
3. boosts multiply and buries divide the scores of the allowed items they match (factors
   compose by multiplication, so their order does not matter either). A score keeps its sign:
   a boost re-orders what the recommender proposes and never adds an item it did not score;
4. the page is filled (relevo.rules.page): pins first, in priority order, each at its slot;
   then the other candidates, best adjusted score first (ties: lower item index first),
   skipping any that would break a diversity cap or a brand conflict. Pins obey the filters,
   the caps and the conflicts too, and count toward them.

Nothing here raises on a request: a rule that cannot be applied (a relative condition without
a product in view, a pinned product the catalog does not have, an unexpected error) is skipped
with the reason in the trace. `plan_rules` + `RulePlan.page` are the parts serving uses to
keep one page across its fallback chain; `apply_rules` is the one-shot composition.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import numpy as np
import numpy.typing as npt

from relevo.rules._vectorised import Cached, Node, Reference, Unavailable, compile_condition
from relevo.rules.catalog import Bools, CatalogColumns
from relevo.rules.model import (
    BoostRule,
    BrandConflictRule,
    BuryRule,
    DiversityRule,
    FilterRule,
    PinRule,
    Rule,
)
from relevo.rules.outcome import (
    APPLIED,
    SKIPPED,
    RuleContext,
    RuledAnswer,
    RuledItem,
    RuleTrace,
)
from relevo.rules.page import Cap, Conflict, Floats, Items, Page, Pin


@dataclass(eq=False)
class CompiledRule:
    rule: Rule
    condition: Node | None
    window: tuple[float, float]  # epoch ms, start inclusive, end exclusive
    problem: str | None = None  # set when the rule could not be compiled: always skipped


def compile_rules(
    rules: Iterable[Rule], catalog: CatalogColumns | None = None
) -> list[CompiledRule]:
    """Rules in the order they are considered (priority, highest first, then id), with their
    conditions compiled; with a catalog, the masks that do not depend on a request are
    computed now rather than by the first request."""
    compiled = []
    for rule in sorted(rules, key=lambda r: (-r.priority, r.id)):
        condition = getattr(rule, "condition", None)
        try:
            node = None if condition is None else compile_condition(condition)
            compiled.append(CompiledRule(rule, node, rule.schedule.window_ms()))
            if node is not None and catalog is not None:
                _prime(node, catalog)
        except Exception as error:  # a decision never raises: the rule is skipped instead
            compiled.append(CompiledRule(rule, None, (0, 0), f"could not be compiled: {error}"))
    return compiled


def _prime(node: Node, catalog: CatalogColumns) -> None:
    if isinstance(node, Cached):
        node.full(catalog)
    for child in getattr(node, "children", ()):
        _prime(child, catalog)
    inner = getattr(node, "inner", None)
    if inner is not None:
        _prime(inner, catalog)


def _items(n: int) -> str:
    return f"{n} item" if n == 1 else f"{n} items"


def _iso(ms: float) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat().replace("+00:00", "Z")


def _gate(compiled: CompiledRule, context: RuleContext) -> str | None:
    rule = compiled.rule
    if compiled.problem:
        return compiled.problem
    if not rule.enabled:
        return "disabled"
    starts, ends = compiled.window
    if context.now_ms < starts:
        return f"out of schedule: starts at {_iso(starts)}"
    if context.now_ms >= ends:
        return f"out of schedule: ended at {_iso(ends)}"
    strategies, placements = rule.scope.strategies, rule.scope.placements
    if strategies is not None and context.strategy not in strategies:
        return f"out of scope: strategy {context.strategy} is not one of {', '.join(strategies)}"
    if placements is not None and context.placement not in placements:
        asked = f"placement {context.placement}" if context.placement else "no placement given"
        return f"out of scope: {asked}; the rule is for {', '.join(placements)}"
    if rule.audience is not None and rule.audience not in context.audiences:
        return f"audience not matched: the visitor is not in {rule.audience}"
    return None


_Array = TypeVar("_Array", bound=npt.NDArray[Any])


def _fit(array: _Array, n: int, fill: object, what: str, notes: list[str]) -> _Array:
    if array.shape == (n,):
        return array
    note = f"{what} had {array.size} entries for a catalog of {n}: the rest counted as {fill}"
    if note not in notes:  # serving adjusts the scores of every strategy it tries
        notes.append(note)
    fitted = np.full(n, fill, dtype=array.dtype)
    fitted[: min(n, array.size)] = array.ravel()[:n]
    return cast(_Array, fitted)


class RulePlan:
    """The context-dependent part of one request: the filtered mask, the score factors, and
    the pins, caps and conflicts a page is filled under."""

    def __init__(
        self,
        rules: Sequence[CompiledRule],
        catalog: CatalogColumns,
        context: RuleContext,
        allowed: Bools,
    ) -> None:
        self.catalog, self.context = catalog, context
        self.notes: list[str] = []
        n = len(catalog)
        allowed = _fit(np.asarray(allowed, dtype=bool), n, False, "allowed", self.notes)
        self.trace: list[RuleTrace] = []
        self.touches: list[tuple[str, Callable[[Items], Bools]]] = []
        self.pins: list[Pin] = []
        self.caps: list[Cap] = []
        self.conflicts: list[Conflict] = []
        self.factors: Floats | None = None
        self._filters: list[tuple[str, Bools]] = []  # rule id, what it keeps
        self._reference = Reference(context.in_view, list(context.cart), context.now_ms)
        self._priced_view: CatalogColumns | None = None
        gated = []
        for compiled in rules:
            rule = compiled.rule
            trace = RuleTrace(rule.id, rule.kind, SKIPPED, "")
            self.trace.append(trace)
            why = _gate(compiled, context)
            if why is None:
                gated.append((compiled, trace))
            else:
                trace.why = why
        # Filters before boosts, so that a boost counts only the items that are left.
        kinds: list[tuple[tuple[type, ...], Callable[[CompiledRule, RuleTrace, Bools], Bools]]] = [
            ((FilterRule,), self._filter),
            ((BoostRule, BuryRule), self._boost),
            ((PinRule,), self._pin),
            ((DiversityRule,), self._diversity),
            ((BrandConflictRule,), self._conflict),
        ]
        for kind, apply in kinds:
            for compiled, trace in gated:
                if isinstance(compiled.rule, kind):
                    try:
                        allowed = apply(compiled, trace, allowed)
                    except Unavailable as reason:
                        trace.status, trace.why = SKIPPED, str(reason)
                    except Exception as error:  # never raise on a request
                        trace.status, trace.why = SKIPPED, f"could not be applied: {error!r}"
        self.allowed = allowed

    def adjust(self, scores: npt.NDArray[np.floating]) -> Floats:
        """The scores after boosts and buries, over the catalog (a shorter array, a bundle's
        that predates products added since, reads 0 for them: only a pin can show those)."""
        scores = np.asarray(scores, dtype=np.float32)
        if scores.shape != (len(self.catalog),):
            scores = _fit(scores, len(self.catalog), 0.0, "scores", self.notes)
        return scores if self.factors is None else scores * self.factors

    def page(self, limit: int) -> Page:
        page = Page(
            limit, self.catalog, self.pins, self.caps, self.conflicts, self.touches, self.allowed
        )
        page.set_in_view_brand(self.context.in_view)
        return page

    def finish(self, page: Page) -> list[RuledItem]:
        """The page's answer, and the trace completed with what the page did."""
        items = page.finish()
        for cap in self.caps:
            if cap.trace.items:
                cap.trace.why += f": held back {_items(cap.trace.items)}"
            elif not cap.full():
                cap.trace.why += ": no value reached it"
        for conflict in self.conflicts:
            if conflict.shown >= 0:
                shown = ", ".join(conflict.names[conflict.shown])
                conflict.trace.why = f"showing {shown}: the other groups are held back"
            else:
                conflict.trace.why = "no brand of these groups on the page"
        return items

    def _mask(self, compiled: CompiledRule) -> Bools:
        node = compiled.condition
        assert node is not None
        catalog = self._priced() if node.prices else self.catalog
        return node.mask(catalog, slice(None), self._reference)

    def _priced(self) -> CatalogColumns:
        """The catalog at the member's agreed prices, built once per request and only for a
        rule that reads a price."""
        agreed = self.context.prices
        if agreed is None or agreed.rows.size == 0:
            return self.catalog
        if self._priced_view is None:
            self._priced_view = self.catalog.priced(agreed.rows, agreed.prices)
        return self._priced_view

    def _filter(self, compiled: CompiledRule, trace: RuleTrace, allowed: Bools) -> Bools:
        rule = compiled.rule
        assert isinstance(rule, FilterRule)
        matched = self._mask(compiled)
        keep = matched if rule.mode == "include" else ~matched
        before = int(np.count_nonzero(allowed))
        allowed = allowed & keep
        left = int(np.count_nonzero(allowed))
        trace.items = before - left
        if rule.mode == "exclude" and trace.items == 0:
            trace.why = "matched no item"
            return allowed
        trace.status = APPLIED
        trace.why = f"kept {left} of {_items(before)}"
        self._filters.append((rule.id, keep))
        if rule.mode == "include":
            self.touches.append((rule.id, lambda items: matched[items]))
        return allowed

    def _boost(self, compiled: CompiledRule, trace: RuleTrace, allowed: Bools) -> Bools:
        rule = compiled.rule
        assert isinstance(rule, BoostRule | BuryRule)
        matched = self._mask(compiled)
        trace.items = int(np.count_nonzero(matched & allowed))
        if trace.items == 0:
            trace.why = "matched no item"
            return allowed
        if self.factors is None:
            self.factors = np.ones(len(self.catalog), dtype=np.float32)
        factor = rule.factor if isinstance(rule, BoostRule) else 1 / rule.factor
        np.multiply(self.factors, np.float32(factor), out=self.factors, where=matched)
        sign = "*" if isinstance(rule, BoostRule) else "/"
        trace.status, trace.why = APPLIED, f"score {sign}{rule.factor:g} for {_items(trace.items)}"
        self.touches.append((rule.id, lambda items: matched[items]))
        return allowed

    def _pin(self, compiled: CompiledRule, trace: RuleTrace, allowed: Bools) -> Bools:
        rule = compiled.rule
        assert isinstance(rule, PinRule)
        if rule.product_id is not None:
            item = self.catalog.index(rule.product_id)
            if item is None:
                trace.why = f"product {rule.product_id} is not in the catalog"
                return allowed
            pin = Pin(trace, rule.slot, item=item, source_reason=self._why_not_allowed)
        else:
            pin = Pin(trace, rule.slot, mask=self._mask(compiled))
        trace.why = "not placed: the page was not filled"
        self.pins.append(pin)
        self.touches.append((rule.id, lambda items: items == pin.placed))
        return allowed

    def _diversity(self, compiled: CompiledRule, trace: RuleTrace, allowed: Bools) -> Bools:
        rule = compiled.rule
        assert isinstance(rule, DiversityRule)
        catalog = self.catalog
        mask = None if compiled.condition is None else self._mask(compiled)
        table = None
        label = rule.attribute or "matching item"
        if rule.attribute is None:
            column = None
        elif rule.attribute == "brand":
            column = catalog.brand
        elif rule.attribute == "item_group":
            column = catalog.item_group
        elif rule.attribute == "category":
            column = catalog.category
            table = catalog.category_level(rule.levels) if rule.levels else None
        else:
            attribute = catalog.attributes.get(rule.attribute.removeprefix("attributes."))
            if attribute is None:
                trace.why = f"no product has {rule.attribute}"
                return allowed
            column = attribute.texts
        counted = allowed if mask is None else allowed & mask
        if column is not None:
            counted = counted & (column >= 0)
        if not counted.any():
            trace.why = "matched no item"
            return allowed
        cap = Cap(trace, label, rule.max_per_value, column, table, mask)
        trace.status = APPLIED
        trace.why = f"at most {rule.max_per_value} per {label}"
        self.caps.append(cap)
        self.touches.append((rule.id, lambda items: cap.groups(items) >= 0))
        return allowed

    def _conflict(self, compiled: CompiledRule, trace: RuleTrace, allowed: Bools) -> Bools:
        rule = compiled.rule
        assert isinstance(rule, BrandConflictRule)
        brands = self.catalog.brands
        group_of = np.full(len(brands) + 1, -1, dtype=np.int32)
        for number, group in enumerate(rule.brands):
            for name in group:
                code = brands.code(name)
                if code >= 0:
                    group_of[code] = number
        in_groups = group_of[self.catalog.brand] >= 0
        if not (in_groups & allowed).any():
            trace.why = "matched no item"
            return allowed
        conflict = Conflict(trace, group_of, self.catalog.brand, rule.brands)
        trace.status = APPLIED
        trace.why = "brands of one group only"
        self.conflicts.append(conflict)
        self.touches.append((rule.id, lambda items: conflict.groups(items) >= 0))
        return allowed

    def _why_not_allowed(self, item: int) -> str:
        for rule_id, keep in self._filters:
            if not keep[item]:
                return f"removed by filter {rule_id}"
        return "excluded from this request (out of stock, in view, in the cart, ...)"


def plan_rules(
    rules: Sequence[CompiledRule], catalog: CatalogColumns, context: RuleContext, allowed: Bools
) -> RulePlan:
    """The request's part of applying rules: compute once, then adjust each strategy's
    scores and fill one page from them (relevo.recs.serving's fallback chain)."""
    return RulePlan(rules, catalog, context, allowed)


def apply_rules(
    scores: npt.NDArray[np.floating],
    allowed: Bools,
    catalog: CatalogColumns,
    context: RuleContext,
    rules: Sequence[CompiledRule],
    limit: int,
) -> RuledAnswer:
    """Rules applied to one score array over the catalog's items (see the module docstring for
    the order); `allowed` is the request's own exclusions. Never raises."""
    plan = plan_rules(rules, catalog, context, allowed)
    adjusted = plan.adjust(scores)
    page = plan.page(limit)
    try:
        page.fill(adjusted, plan.allowed, context.strategy)
        items = plan.finish(page)
    except Exception as error:  # never raise on a request: the filters still hold
        plan.notes.append(f"pins, caps and conflicts could not be applied: {error!r}")
        fallback = Page(limit, catalog, [], [], [], [], plan.allowed)
        fallback.fill(adjusted, plan.allowed, context.strategy)
        items = fallback.finish()
    return RuledAnswer(plan.allowed, adjusted, items, plan.trace, plan.notes)
