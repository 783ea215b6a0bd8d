"""Merchandising rules as a shop saves them, validated when saved (`parse_rule`): a message
names the field that is wrong and what it takes.

    {"id": "sale-only", "kind": "filter", "mode": "include",
     "condition": {"field": "on_sale", "op": "eq", "value": true}}
    {"id": "acme-for-vip", "kind": "boost", "factor": 2, "audience": "vip",
     "condition": {"field": "brand", "op": "eq", "value": "Acme"}}
    {"id": "max-2-per-brand", "kind": "diversity", "attribute": "brand", "max_per_value": 2}
    {"id": "cola-wars", "kind": "brand_conflict", "brands": [["Coca-Cola"], ["Pepsi"]]}
    {"id": "hero", "kind": "pin", "slot": 1, "product_id": "SKU-1",
     "scope": {"placements": ["home"]},
     "schedule": {"starts_at": "2025-11-28T00:00:00Z", "ends_at": "2025-12-01T00:00:00Z"}}

    filter          include: keep only the items matching `condition`; exclude: drop them
    boost / bury    multiply / divide the score of matching items by `factor` (> 1)
    pin             put `product_id`, or the best-scored item matching `condition`, at `slot`
    diversity       at most `max_per_value` items per value of `attribute` (brand, category
                    cut to `levels`, item_group, attributes.<name>); with `condition`, only
                    matching items count; without `attribute`, at most that many matching items
    brand_conflict  never brands of two of the `brands` groups in one answer (the product in
                    view counts as shown)

Every rule may have a `scope` (strategies, placements: all when left out), a `priority`
(higher first; it decides between pins), a `schedule` (starts_at inclusive, ends_at exclusive),
an `audience` (the rule applies only to visitors in that audience) and `enabled`.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from relevo.rules.condition import (
    ATTRIBUTE_PREFIX,
    MAX_TEXT,
    TEXT_FIELDS,
    Condition,
    shape_of,
)
from relevo.rules.errors import InvalidRule

RULE_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
MAX_DEPTH = 8
MAX_CONDITION_PARTS = 100
MAX_FACTOR = 1e6
MAX_SLOT = 100
MAX_CONFLICT_GROUPS = 20
MAX_BRANDS_PER_GROUP = 100
_DIVERSITY_ATTRIBUTES = "brand, category, item_group or attributes.<name>"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Scope(_Strict):
    strategies: list[Annotated[str, Field(min_length=1, max_length=64)]] | None = Field(
        None, min_length=1, max_length=50
    )
    placements: list[Annotated[str, Field(min_length=1, max_length=MAX_TEXT)]] | None = Field(
        None, min_length=1, max_length=200
    )

    @field_validator("strategies")
    @classmethod
    def _known_strategies(cls, names: list[str] | None, info: ValidationInfo) -> list[str] | None:
        # The strategy registry lives in relevo.recs; the caller passes its names when saving.
        known: Collection[str] | None = (info.context or {}).get("strategies")
        if names is not None and known is not None:
            unknown = [n for n in names if n not in known]
            if unknown:
                raise ValueError(
                    f"unknown strategies {unknown}; available: {', '.join(sorted(known))}"
                )
        return names


class Schedule(_Strict):
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Schedule:
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self

    def window_ms(self) -> tuple[float, float]:
        starts = self.starts_at.timestamp() * 1000 if self.starts_at else float("-inf")
        ends = self.ends_at.timestamp() * 1000 if self.ends_at else float("inf")
        return starts, ends


class _Rule(_Strict):
    id: str = Field(pattern=RULE_ID)
    name: str = Field("", max_length=200)
    priority: int = Field(0, ge=-1000, le=1000)
    scope: Scope = Scope()
    schedule: Schedule = Schedule()
    audience: str | None = Field(None, min_length=1, max_length=MAX_TEXT)
    enabled: bool = True

    @field_validator("condition", check_fields=False)
    @classmethod
    def _bounded(cls, condition: Condition | None) -> Condition | None:
        if condition is not None:
            depth, parts = shape_of(condition)
            if depth > MAX_DEPTH:
                raise ValueError(f"nested {depth} deep; at most {MAX_DEPTH}")
            if parts > MAX_CONDITION_PARTS:
                raise ValueError(f"{parts} parts; at most {MAX_CONDITION_PARTS}")
        return condition


class FilterRule(_Rule):
    kind: Literal["filter"]
    mode: Literal["include", "exclude"] = "include"
    condition: Condition


class BoostRule(_Rule):
    kind: Literal["boost"]
    condition: Condition
    factor: float = Field(gt=1, le=MAX_FACTOR)


class BuryRule(_Rule):
    kind: Literal["bury"]
    condition: Condition
    factor: float = Field(gt=1, le=MAX_FACTOR)  # the score is divided by it


class PinRule(_Rule):
    kind: Literal["pin"]
    slot: int = Field(ge=1, le=MAX_SLOT)  # 1 is the first item
    product_id: str | None = Field(None, min_length=1, max_length=MAX_TEXT)
    condition: Condition | None = None

    @model_validator(mode="after")
    def _one_target(self) -> PinRule:
        if (self.product_id is None) == (self.condition is None):
            raise ValueError("a pin names either product_id or condition (one of them)")
        return self


class DiversityRule(_Rule):
    kind: Literal["diversity"]
    attribute: str | None = Field(None, max_length=MAX_TEXT)
    levels: int | None = Field(None, ge=1, le=20)  # category only: group by the first N levels
    max_per_value: int = Field(ge=1, le=MAX_SLOT)
    condition: Condition | None = None

    @field_validator("attribute")
    @classmethod
    def _groupable(cls, name: str | None) -> str | None:
        if name is None or name in TEXT_FIELDS or name == "category":
            return name
        if name.startswith(ATTRIBUTE_PREFIX) and len(name) > len(ATTRIBUTE_PREFIX):
            return name
        raise ValueError(f"cannot group by {name!r}; use {_DIVERSITY_ATTRIBUTES}")

    @model_validator(mode="after")
    def _something_to_cap(self) -> DiversityRule:
        if self.attribute is None and self.condition is None:
            raise ValueError(f"name an attribute ({_DIVERSITY_ATTRIBUTES}) or a condition")
        if self.levels is not None and self.attribute != "category":
            raise ValueError("levels applies to attribute: category only")
        return self


_BrandName = Annotated[str, Field(min_length=1, max_length=MAX_TEXT)]


class BrandConflictRule(_Rule):
    kind: Literal["brand_conflict"]
    brands: list[Annotated[list[_BrandName], Field(min_length=1, max_length=MAX_BRANDS_PER_GROUP)]]

    @field_validator("brands")
    @classmethod
    def _disjoint(cls, groups: list[list[str]]) -> list[list[str]]:
        if not 2 <= len(groups) <= MAX_CONFLICT_GROUPS:
            raise ValueError(f"give 2 to {MAX_CONFLICT_GROUPS} groups of brands that conflict")
        seen: dict[str, int] = {}
        for number, group in enumerate(groups):
            for brand in group:
                key = brand.strip().casefold()
                if seen.get(key, number) != number:
                    raise ValueError(f"brand {brand!r} is in groups {seen[key]} and {number}")
                seen[key] = number
        return groups


Rule = Annotated[
    FilterRule | BoostRule | BuryRule | PinRule | DiversityRule | BrandConflictRule,
    Field(discriminator="kind"),
]
KINDS = ("filter", "boost", "bury", "pin", "diversity", "brand_conflict")
_RULE: TypeAdapter[Rule] = TypeAdapter(Rule)


def describe(error: ValidationError) -> str:
    """The first problems of a refused rule, each with the path of the field it is about."""
    problems = []
    for item in error.errors(include_url=False)[:3]:
        where = ".".join(_field_path(item["loc"])) or "rule"
        message = str(item["msg"]).removeprefix("Value error, ")
        if item["type"] in ("union_tag_invalid", "union_tag_not_found") and where == "rule":
            where, message = "kind", f"expected one of {', '.join(KINDS)}"
        problems.append(f"{where}: {message}")
    return "; ".join(problems)


def _field_path(loc: tuple[int | str, ...]) -> list[str]:
    """The location without the tags pydantic puts in it where a union chose its member: the
    rule's kind first, then a condition's shape wherever a condition starts."""
    path: list[str] = []
    tag_next = False
    for number, part in enumerate(loc):
        if number == 0 and part in KINDS:
            continue
        if tag_next and part in _SHAPE_TAGS:
            tag_next = False
            continue
        path.append(str(part))
        tag_next = part in ("condition", "not") or (
            isinstance(part, int) and len(path) > 1 and path[-2] in ("all", "any")
        )
    return path


_SHAPE_TAGS = ("field", "same", "price_within", "all", "any", "not")


def parse_rule(data: Any, *, strategies: Collection[str] | None = None) -> Rule:
    """A validated rule; raises InvalidRule (400) naming the field. With `strategies`, a scope
    may name only those."""
    context = {"strategies": strategies} if strategies is not None else None
    try:
        return _RULE.validate_python(data, context=context)
    except ValidationError as error:
        raise InvalidRule(describe(error)) from None
