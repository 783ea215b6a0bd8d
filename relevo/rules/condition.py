"""The item condition of a merchandising rule: a small declarative vocabulary, chosen so that
each part is one numpy operation over a catalog column (relevo.rules._vectorised).

    {"field": "price", "op": "lte", "value": 50}         compare an item field
    {"field": "on_sale", "op": "eq", "value": true}       sale price below price
    {"field": "category", "op": "under", "value": "Home > Kitchen"}   the path or below it
    {"field": "attributes.margin", "op": "gte", "value": 0.4}
    {"field": "added_at", "op": "within", "value": "30d"} new arrivals (relative to now)
    {"same": "category", "as": "in_view", "levels": 2}   relative to the product in view
    {"price_within": 30, "as": "in_view"}                 effective price within 30% of it
    {"all": [...]}  {"any": [...]}  {"not": {...}}

Fields and their operators:

    price sale_price effective_price   numbers   eq ne lt lte gt gte in nin exists
    on_sale in_stock                   booleans  eq ne
    brand item_group                   text      eq ne in nin exists (case-insensitive)
    category                           path      eq ne in nin under exists ("Home > Kitchen"
                                                 or ["Home", "Kitchen"])
    added_at                           time      lt lte gt gte (ISO datetime or epoch ms)
                                                 within (a duration, "30d") exists
    attributes.<name>                  by value  eq ne with a number, text or boolean;
                                                 lt lte gt gte with a number; in nin with a
                                                 list of numbers or of texts; exists

A comparison with a missing value is false, `ne` and `nin` included (they mean "present and
different"); `not` negates the whole part, so {"not": {"field": "brand", "op": "eq", ...}}
also holds for an item without a brand. `effective_price` is the sale price when there is one,
else the price; `price_within` compares effective prices. `as: cart` compares with any item of
the cart. A relative part on a request without the product in view (or an empty cart) cannot
be evaluated: its rule is skipped, and the trace says why.
"""

from __future__ import annotations

import datetime as dt
import math
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from relevo.conditions.durations import parse_duration

MAX_LIST = 1000
MAX_TEXT = 255
MAX_PARTS = 50  # children of one all/any


class Op(StrEnum):
    EQ = "eq"
    NE = "ne"
    LT = "lt"
    LTE = "lte"
    GT = "gt"
    GTE = "gte"
    IN = "in"
    NIN = "nin"
    UNDER = "under"
    WITHIN = "within"
    EXISTS = "exists"


ORDER = {Op.LT, Op.LTE, Op.GT, Op.GTE}
_SETS = {Op.IN, Op.NIN}
NUMBER_FIELDS = frozenset({"price", "sale_price", "effective_price"})
FLAG_FIELDS = frozenset({"on_sale", "in_stock"})
TEXT_FIELDS = frozenset({"brand", "item_group"})
ATTRIBUTE_PREFIX = "attributes."
_OPS = {
    "number": {Op.EQ, Op.NE, *ORDER, *_SETS, Op.EXISTS},
    "flag": {Op.EQ, Op.NE},
    "text": {Op.EQ, Op.NE, *_SETS, Op.EXISTS},
    "path": {Op.EQ, Op.NE, *_SETS, Op.UNDER, Op.EXISTS},
    "time": {*ORDER, Op.WITHIN, Op.EXISTS},
    "attribute": {Op.EQ, Op.NE, *ORDER, *_SETS, Op.EXISTS},
}
FIELDS = (
    "price, sale_price, effective_price, on_sale, in_stock, brand, item_group, category, "
    "added_at, attributes.<name>"
)


def field_type(name: str) -> str | None:
    if name in NUMBER_FIELDS:
        return "number"
    if name in FLAG_FIELDS:
        return "flag"
    if name in TEXT_FIELDS:
        return "text"
    if name == "category":
        return "path"
    if name == "added_at":
        return "time"
    if name.startswith(ATTRIBUTE_PREFIX) and len(name) > len(ATTRIBUTE_PREFIX):
        return "attribute"
    return None


def category_path(value: str | list[str]) -> str:
    """ "Home > Kitchen" or ["Home", "Kitchen"], as relevo.catalog.product writes paths."""
    parts = value if isinstance(value, list) else value.split(">")
    return " > ".join(p.strip() for p in parts if p.strip())


def time_ms(value: Any) -> float:
    """Epoch milliseconds from a number of milliseconds or an ISO datetime with a time zone."""
    if isinstance(value, bool):
        raise ValueError("expected an ISO datetime or epoch milliseconds, got a boolean")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            moment = dt.datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"expected an ISO datetime, got {value!r}") from None
        if moment.tzinfo is None:
            raise ValueError(f"{value!r} has no time zone (add Z or +00:00)")
        return moment.timestamp() * 1000
    raise ValueError(f"expected an ISO datetime or epoch milliseconds, got {value!r}")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _is_text(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= MAX_TEXT


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class FieldIs(_Part):
    field: str = Field(max_length=MAX_TEXT)
    op: Op
    value: Any = None

    @field_validator("field")
    @classmethod
    def _known(cls, name: str) -> str:
        if field_type(name) is None:
            raise ValueError(f"unknown field {name!r}; fields: {FIELDS}")
        return name

    @model_validator(mode="after")
    def _value_fits(self) -> FieldIs:
        kind = field_type(self.field)
        assert kind is not None
        if self.op not in _OPS[kind]:
            allowed = " ".join(sorted(op.value for op in _OPS[kind]))
            raise ValueError(f"{self.field} takes the operators {allowed}, not {self.op.value}")
        problem = _value_problem(kind, self.op, self.value)
        if problem:
            raise ValueError(f"{self.field} {self.op.value}: {problem}")
        return self


def _value_problem(kind: str, op: Op, value: Any) -> str | None:
    if op is Op.EXISTS:
        return None if isinstance(value, bool) else "value must be true or false"
    if op in _SETS:
        if not isinstance(value, list) or not 0 < len(value) <= MAX_LIST:
            return f"value must be a list of 1 to {MAX_LIST} values"
        wanted = {"number": _is_number, "text": _is_text, "path": _is_text}.get(kind)
        if wanted is not None:
            ok = all(wanted(v) for v in value)
        else:  # an attribute: all numbers or all texts
            ok = all(_is_number(v) for v in value) or all(_is_text(v) for v in value)
        return None if ok else "value must be a list of numbers or a list of texts, not both"
    if kind == "number" or (kind == "attribute" and op in ORDER):
        return None if _is_number(value) else "value must be a finite number"
    if kind == "flag":
        return None if isinstance(value, bool) else "value must be true or false"
    if kind == "path":
        parts = value if isinstance(value, list) else [value]
        ok = 0 < len(parts) <= 20 and all(_is_text(p) for p in parts)
        return None if ok else 'value must be a path, "Home > Kitchen" or ["Home", "Kitchen"]'
    if kind == "text":
        return None if _is_text(value) else f"value must be a text of 1 to {MAX_TEXT} characters"
    if kind == "time":
        try:
            parse_duration(value) if op is Op.WITHIN else time_ms(value)
        except ValueError as error:
            return str(error)
        return None
    ok = _is_number(value) or _is_text(value) or isinstance(value, bool)
    return None if ok else "value must be a number, a text or a boolean"


class SameAs(_Part):
    same: Literal["category", "brand", "item_group"]
    of: Literal["in_view", "cart"] = Field("in_view", alias="as")
    levels: int | None = Field(None, ge=1, le=20)  # category only: compare the first N levels

    @model_validator(mode="after")
    def _levels_for_category(self) -> SameAs:
        if self.levels is not None and self.same != "category":
            raise ValueError("levels applies to same: category only")
        return self


class PriceWithin(_Part):
    price_within: float = Field(gt=0, le=1000)  # percent of the reference price, either side
    of: Literal["in_view", "cart"] = Field("in_view", alias="as")


class AllOf(_Part):
    all: list[Condition] = Field(min_length=1, max_length=MAX_PARTS)


class AnyOf(_Part):
    any: list[Condition] = Field(min_length=1, max_length=MAX_PARTS)


class NotOf(_Part):
    not_: Condition = Field(alias="not")


_SHAPES = {"field": "field", "same": "same", "price_within": "price_within"}
_SHAPES.update({"all": "all", "any": "any", "not": "not"})


def _shape(value: Any) -> str | None:
    keys = value.keys() if isinstance(value, dict) else value.__dict__.keys()
    for key in keys:
        tag = _SHAPES.get("not" if key == "not_" else key)
        if tag is not None:
            return tag
    return None


Condition = Annotated[
    Annotated[FieldIs, Tag("field")]
    | Annotated[SameAs, Tag("same")]
    | Annotated[PriceWithin, Tag("price_within")]
    | Annotated[AllOf, Tag("all")]
    | Annotated[AnyOf, Tag("any")]
    | Annotated[NotOf, Tag("not")],
    Discriminator(
        _shape,
        custom_error_type="condition_shape",
        custom_error_message=(
            "a condition is an object with one of the keys field, same, price_within, all, any, not"
        ),
    ),
]
AllOf.model_rebuild()
AnyOf.model_rebuild()
NotOf.model_rebuild()


def shape_of(condition: Condition) -> tuple[int, int]:
    """(depth, parts) of a condition, to bound what one rule may ask of a request."""
    if isinstance(condition, AllOf | AnyOf):
        inner = [
            shape_of(c) for c in (condition.all if isinstance(condition, AllOf) else condition.any)
        ]
        return 1 + max(d for d, _ in inner), 1 + sum(p for _, p in inner)
    if isinstance(condition, NotOf):
        depth, parts = shape_of(condition.not_)
        return depth + 1, parts + 1
    return 1, 1


def is_relative(condition: Condition) -> bool:
    """Whether the condition reads the request (the product in view, the cart, the time)."""
    if isinstance(condition, SameAs | PriceWithin):
        return True
    if isinstance(condition, FieldIs):
        return condition.op is Op.WITHIN
    if isinstance(condition, NotOf):
        return is_relative(condition.not_)
    children = condition.all if isinstance(condition, AllOf) else condition.any
    return any(is_relative(c) for c in children)
