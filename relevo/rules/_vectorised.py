"""Conditions compiled to masks over catalog columns (relevo.rules.condition says what each part
means). A part that does not read the request is evaluated once per catalog version and kept
(`Cached`), refreshed on the rows an update changed; only the relative parts (the product in
view, the cart, now) are evaluated per request.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from relevo.conditions.durations import parse_duration
from relevo.rules.catalog import Bools, CatalogColumns, Codes, Numbers, Rows, Vocabulary
from relevo.rules.condition import (
    ATTRIBUTE_PREFIX,
    AllOf,
    Condition,
    FieldIs,
    NotOf,
    Op,
    PriceWithin,
    SameAs,
    category_path,
    time_ms,
)

_COMPARE: dict[Op, Callable[[Any, Any], Any]] = {
    Op.EQ: operator.eq,
    Op.LT: operator.lt,
    Op.LTE: operator.le,
    Op.GT: operator.gt,
    Op.GTE: operator.ge,
}


class Unavailable(Exception):
    """A relative part that cannot be evaluated for this request; the message says why."""


@dataclass(frozen=True)
class Reference:
    """What relative parts compare with: the product in view, the cart, the time (epoch ms)."""

    in_view: int | None
    cart: Sequence[int]
    now_ms: int


def _size(catalog: CatalogColumns, rows: Rows) -> int:
    return len(catalog) if isinstance(rows, slice) else int(rows.size)


class Node:
    relative = False
    prices = False  # reads a price column: differs on a buyer's view (CatalogColumns.priced)

    def mask(self, catalog: CatalogColumns, rows: Rows, reference: Reference | None) -> Bools:
        raise NotImplementedError


class Numeric(Node):
    def __init__(
        self,
        column: Callable[[CatalogColumns], Numbers],
        op: Op,
        value: Any,
        prices: bool = False,
    ) -> None:
        self.column, self.op, self.value, self.prices = column, op, value, prices

    def mask(self, catalog: CatalogColumns, rows: Rows, reference: Reference | None) -> Bools:
        values = self.column(catalog)[rows]
        op = self.op
        if op is Op.EXISTS:
            known = ~np.isnan(values)
            return known if self.value else ~known
        if op in (Op.IN, Op.NIN):
            inside = np.isin(values, np.asarray(self.value, dtype=np.float64))
            return inside if op is Op.IN else ~inside & ~np.isnan(values)
        if op is Op.NE:
            different: Bools = (values != self.value) & ~np.isnan(values)
            return different
        result: Bools = _COMPARE[op](values, self.value)  # NaN compares false
        return result


class Flag(Node):
    def __init__(
        self, column: Callable[[CatalogColumns], Bools], op: Op, value: bool, prices: bool = False
    ) -> None:
        self.column, self.wanted, self.prices = column, value == (op is Op.EQ), prices

    def mask(self, catalog: CatalogColumns, rows: Rows, reference: Reference | None) -> Bools:
        values = self.column(catalog)[rows]
        return values.copy() if self.wanted else ~values


class Coded(Node):
    """Text compared through codes: brand, item group, category path, text attributes."""

    def __init__(
        self,
        column: Callable[[CatalogColumns], tuple[Codes, Vocabulary] | None],
        op: Op,
        value: Any,
    ) -> None:
        self.column, self.op, self.value = column, op, value

    def mask(self, catalog: CatalogColumns, rows: Rows, reference: Reference | None) -> Bools:
        found = self.column(catalog)
        if found is None:  # an attribute no product has: only "exists: false" holds
            return np.full(_size(catalog, rows), self.op is Op.EXISTS and not self.value)
        codes, vocabulary = found
        codes = codes[rows]
        op = self.op
        if op is Op.EXISTS:
            known = codes >= 0
            return known if self.value else ~known
        if op is Op.UNDER:
            table = catalog.under(self.value)
            under: Bools = table[codes]
            return under
        wanted = [self.value] if op in (Op.EQ, Op.NE) else self.value
        inside: Bools = vocabulary.table(vocabulary.code(v) for v in wanted)[codes]
        return inside if op in (Op.EQ, Op.IN) else ~inside & (codes >= 0)


class AttributeFlag(Node):
    def __init__(self, name: str, op: Op, value: bool) -> None:
        self.name, self.wanted = name, int(value == (op is Op.EQ))

    def mask(self, catalog: CatalogColumns, rows: Rows, reference: Reference | None) -> Bools:
        column = catalog.attributes.get(self.name)
        if column is None:
            return np.zeros(_size(catalog, rows), dtype=bool)
        flags = column.flags[rows]
        result: Bools = flags == self.wanted
        return result


class AttributeExists(Node):
    def __init__(self, name: str, value: bool) -> None:
        self.name, self.value = name, value

    def mask(self, catalog: CatalogColumns, rows: Rows, reference: Reference | None) -> Bools:
        column = catalog.attributes.get(self.name)
        if column is None:
            return np.full(_size(catalog, rows), not self.value)
        known = column.known(rows)
        return known if self.value else ~known


class AddedWithin(Node):
    relative = True

    def __init__(self, ms: int) -> None:
        self.ms = ms

    def mask(self, catalog: CatalogColumns, rows: Rows, reference: Reference | None) -> Bools:
        assert reference is not None
        result: Bools = catalog.added_at[rows] >= reference.now_ms - self.ms
        return result


def _references(catalog: CatalogColumns, reference: Reference | None, of: str) -> list[int]:
    assert reference is not None
    if of == "in_view":
        if reference.in_view is None:
            raise Unavailable("needs a product in view")
        if not 0 <= reference.in_view < len(catalog):
            raise Unavailable("the product in view is not in the catalog")
        return [reference.in_view]
    items = [i for i in reference.cart if 0 <= i < len(catalog)]
    if not items:
        raise Unavailable("needs items in the cart")
    return items


def _label(of: str) -> str:
    return "the product in view" if of == "in_view" else "the cart"


class Same(Node):
    relative = True

    def __init__(self, field: str, of: str, levels: int | None) -> None:
        self.field, self.of, self.levels = field, of, levels

    def mask(self, catalog: CatalogColumns, rows: Rows, reference: Reference | None) -> Bools:
        items = _references(catalog, reference, self.of)
        if self.field == "category":
            codes = catalog.category
            paths = {catalog.categories.values[c] for c in codes[items] if c >= 0}
            if not paths:
                raise Unavailable(f"{_label(self.of)} has no category")
            table = np.zeros(len(catalog.categories) + 1, dtype=bool)
            for path in paths:
                cut = (
                    path if self.levels is None else category_path(path.split(" > ")[: self.levels])
                )
                table |= catalog.under(cut)
            same: Bools = table[codes[rows]]
            return same
        column = catalog.brand if self.field == "brand" else catalog.item_group
        wanted = {int(c) for c in column[items] if c >= 0}
        if not wanted:
            raise Unavailable(f"{_label(self.of)} has no {self.field.replace('_', ' ')}")
        result: Bools = np.isin(column[rows], np.fromiter(wanted, np.int32, len(wanted)))
        return result


class NearPrice(Node):
    relative = True
    prices = True

    def __init__(self, percent: float, of: str) -> None:
        self.share, self.of = percent / 100, of

    def mask(self, catalog: CatalogColumns, rows: Rows, reference: Reference | None) -> Bools:
        items = _references(catalog, reference, self.of)
        prices = catalog.effective_price
        known = [float(p) for p in prices[items] if not np.isnan(p)]
        if not known:
            raise Unavailable(f"{_label(self.of)} has no price")
        values = prices[rows]
        result = np.zeros(values.shape, dtype=bool)
        for price in known:
            result |= np.abs(values - price) <= price * self.share
        return result


class All(Node):
    def __init__(self, children: list[Node]) -> None:
        self.children = children
        self.relative = any(c.relative for c in children)
        self.prices = any(c.prices for c in children)

    def mask(self, catalog: CatalogColumns, rows: Rows, reference: Reference | None) -> Bools:
        result = self.children[0].mask(catalog, rows, reference).copy()
        for child in self.children[1:]:
            result &= child.mask(catalog, rows, reference)
        return result


class Any_(Node):
    def __init__(self, children: list[Node]) -> None:
        self.children = children
        self.relative = any(c.relative for c in children)
        self.prices = any(c.prices for c in children)

    def mask(self, catalog: CatalogColumns, rows: Rows, reference: Reference | None) -> Bools:
        result = self.children[0].mask(catalog, rows, reference).copy()
        for child in self.children[1:]:
            result |= child.mask(catalog, rows, reference)
        return result


class Not(Node):
    def __init__(self, inner: Node) -> None:
        self.inner = inner
        self.relative, self.prices = inner.relative, inner.prices

    def mask(self, catalog: CatalogColumns, rows: Rows, reference: Reference | None) -> Bools:
        return ~self.inner.mask(catalog, rows, reference)


class Cached(Node):
    """A part that reads only the catalog: its mask over the whole catalog is kept and, after
    an update, recomputed on the rows that changed. A new mask is built and then swapped in,
    so a request never reads one half refreshed."""

    def __init__(self, inner: Node) -> None:
        self.inner, self.prices = inner, inner.prices
        self._state: tuple[int, int, Bools] | None = None  # catalog id, version, mask

    def full(self, catalog: CatalogColumns) -> Bools:
        state = self._state
        if state is not None and state[0] == id(catalog) and state[1] == catalog.version:
            return state[2]
        version = catalog.version
        changed = (
            None if state is None or state[0] != id(catalog) else catalog.changes_since(state[1])
        )
        if changed is None:
            mask = self.inner.mask(catalog, slice(None), None)
        else:
            old = state[2] if state is not None else np.zeros(0, dtype=bool)
            mask = np.zeros(len(catalog), dtype=bool)
            mask[: old.size] = old[: len(catalog)]
            changed = changed[changed < len(catalog)]
            mask[changed] = self.inner.mask(catalog, changed, None)
        self._state = (id(catalog), version, mask)
        return mask

    def mask(self, catalog: CatalogColumns, rows: Rows, reference: Reference | None) -> Bools:
        base = catalog.base
        full = self.full(catalog if base is None else base)
        if base is not None and self.prices and catalog.priced_rows.size:
            # A buyer's view: the shared mask, recomputed on the rows with an agreed price.
            full = full.copy()
            changed = catalog.priced_rows[catalog.priced_rows < full.size]
            full[changed] = self.inner.mask(catalog, changed, None)
        return full if isinstance(rows, slice) else full[rows]


def _attribute(name: str) -> Callable[[CatalogColumns], tuple[Codes, Vocabulary] | None]:
    def texts(catalog: CatalogColumns) -> tuple[Codes, Vocabulary] | None:
        column = catalog.attributes.get(name)
        return None if column is None else (column.texts, column.vocabulary)

    return texts


def _attribute_numbers(name: str) -> Callable[[CatalogColumns], Numbers]:
    def numbers(catalog: CatalogColumns) -> Numbers:
        column = catalog.attributes.get(name)
        return np.full(len(catalog), np.nan) if column is None else column.numbers

    return numbers


_NUMBERS: dict[str, Callable[[CatalogColumns], Numbers]] = {
    "price": lambda c: c.price,
    "sale_price": lambda c: c.sale_price,
    "effective_price": lambda c: c.effective_price,
    "added_at": lambda c: c.added_at,
}
_CODES: dict[str, Callable[[CatalogColumns], tuple[Codes, Vocabulary] | None]] = {
    "brand": lambda c: (c.brand, c.brands),
    "item_group": lambda c: (c.item_group, c.item_groups),
    "category": lambda c: (c.category, c.categories),
}


def _field(part: FieldIs) -> Node:
    name, op, value = part.field, part.op, part.value
    if name == "on_sale":
        return Flag(lambda c: c.on_sale, op, value, prices=True)
    if name == "in_stock":
        return Flag(lambda c: c.in_stock, op, value)
    if name == "added_at":
        if op is Op.WITHIN:
            return AddedWithin(parse_duration(value))
        return Numeric(_NUMBERS[name], op, None if op is Op.EXISTS else time_ms(value))
    if name in _NUMBERS:
        return Numeric(_NUMBERS[name], op, value, prices=True)
    if name == "category":
        if op is Op.UNDER or op in (Op.EQ, Op.NE):
            value = category_path(value)
        elif op in (Op.IN, Op.NIN):
            value = [category_path(v) for v in value]
        return Coded(_CODES[name], op, value)
    if name in _CODES:
        return Coded(_CODES[name], op, value)
    attribute = name.removeprefix(ATTRIBUTE_PREFIX)
    if op is Op.EXISTS:
        return AttributeExists(attribute, value)
    if isinstance(value, bool):
        return AttributeFlag(attribute, op, value)
    texts = isinstance(value, str) or (isinstance(value, list) and isinstance(value[0], str))
    if texts:
        return Coded(_attribute(attribute), op, value)
    return Numeric(_attribute_numbers(attribute), op, value)


def _compile(condition: Condition) -> Node:
    if isinstance(condition, FieldIs):
        return _field(condition)
    if isinstance(condition, SameAs):
        return Same(condition.same, condition.of, condition.levels)
    if isinstance(condition, PriceWithin):
        return NearPrice(condition.price_within, condition.of)
    if isinstance(condition, NotOf):
        return Not(_compile(condition.not_))
    children = [
        _compile(c) for c in (condition.all if isinstance(condition, AllOf) else condition.any)
    ]
    return All(children) if isinstance(condition, AllOf) else Any_(children)


def _cache(node: Node) -> Node:
    """Wrap each largest part that reads only the catalog, so a request reads it ready."""
    if not node.relative:
        return Cached(node)
    if isinstance(node, All | Any_):
        fixed = [c for c in node.children if not c.relative]
        moving = [_cache(c) for c in node.children if c.relative]
        if fixed:
            moving.insert(0, Cached(All(fixed) if isinstance(node, All) else Any_(fixed)))
        return All(moving) if isinstance(node, All) else Any_(moving)
    if isinstance(node, Not):
        return Not(_cache(node.inner))
    return node


def compile_condition(condition: Condition) -> Node:
    return _cache(_compile(condition))


def evaluate(node: Node, catalog: CatalogColumns, reference: Reference | None) -> Bools:
    """The condition's mask over the whole catalog; raises Unavailable for a relative part the
    request cannot answer. The mask may be the cached one: never write into it."""
    return node.mask(catalog, slice(None), reference)
