"""Placements and experiences as a shop saves them, validated when saved: a refused one is a
400 whose message names the part (``variants[1].template: line 3: unexpected '}'``).

A **placement** is a slot on a site or in a channel, with what it shows when no experience
applies (``default``) and, for a recommendation slot, its default block:

    {"id": "pdp-similar", "name": "Product page: similar", "kind": "recommendations",
     "channel": "web", "selector": "#similar", "mode": "replace",
     "recommendations": {"strategy": "similar", "count": 4,
                         "exclude": {"out_of_stock": true, "purchased": true}}}

An **experience** fills a placement for an audience (or an inline condition) with variants:

    {"id": "loyalty-offer", "name": "Loyalty offer", "placement": "home-hero",
     "audience": "repeat-customer", "priority": 10,
     "trigger": {"type": "page_view", "url": "/"},
     "frequency": {"per_session": 1, "stop_after_conversion": false},
     "schedule": {"starts_at": "2026-12-01T00:00:00Z", "ends_at": null},
     "label": "Picked for you",
     "variants": [{"id": "a", "content": {"headline": "10% off, for you"},
                   "template": "<h2>{{ content.headline }}</h2>"}]}

Triggers are either answered by the server when it decides (``SERVER_TRIGGERS``: the page,
the product in view, the cart, an event in the person's history) or armed by the snippet in
the page (``BROWSER_TRIGGERS``: exit intent, scroll depth, time on page, inactivity, a cart
add): the decision carries those, and the content is shown only when they fire.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Collection, Mapping
from typing import Annotated, Any, Literal

import orjson
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from relevo.conditions.durations import parse_duration
from relevo.conditions.regex import compile_pattern
from relevo.errors import RelevoError
from relevo.experiences.templates import compile_problem
from relevo.profiles.state import BEHAVIOUR_DAYS, DAY_MS
from relevo.rules.model import Schedule

ID = r"^[a-z0-9][a-z0-9_-]{0,63}$"
MAX_TEXT = 255
MAX_VARIANTS = 20
MAX_CONTENT_BYTES = 20_000
MAX_RECOMMENDED = 50
MAX_QUESTIONS = 10
MAX_ANSWERS = 12
MAX_OPTIONS = 12
PlacementKind = Literal[
    "banner", "recommendations", "overlay", "navigation", "landing", "email", "receipt", "inline"
]  # fmt: skip
Channel = Literal["web", "email", "receipt", "store", "call_centre"]
Mode = Literal["replace", "append", "prepend", "before", "after", "overlay"]
SERVER_TRIGGERS = ("page_view", "product_view", "cart_value", "checkout", "event")
BROWSER_TRIGGERS = ("exit_intent", "scroll_depth", "time_on_page", "inactivity", "add_to_cart")
REGEX_PREFIX = "re:"

_Text = Annotated[str, Field(min_length=1, max_length=MAX_TEXT)]


class InvalidExperience(RelevoError):
    code = "invalid_experience"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Exclude(_Strict):
    """What a recommendation block leaves out (as POST /v1/recommendations' ``exclude``)."""

    out_of_stock: bool = True
    in_view: bool = True
    in_cart: bool = True
    purchased: bool = False


class RecommendationBlock(_Strict):
    strategy: _Text
    count: int = Field(4, ge=1, le=MAX_RECOMMENDED)
    exclude: Exclude = Exclude()
    audience: _Text | None = None  # trending among an audience's members


class Content(_Strict):
    """What a placement shows by default: JSON fields and/or a template."""

    content: dict[str, Any] = Field(default_factory=dict)
    template: str | None = Field(None, max_length=20_000)


class Placement(_Strict):
    id: str = Field(pattern=ID)
    name: str = Field("", max_length=200)
    kind: PlacementKind
    channel: Channel = "web"
    selector: str | None = Field(None, min_length=1, max_length=MAX_TEXT)
    mode: Mode = "replace"
    default: Content | None = None
    recommendations: RecommendationBlock | None = None

    @model_validator(mode="after")
    def _overlay_mode(self) -> Placement:
        if self.kind == "overlay" and self.mode != "overlay":
            return self.model_copy(update={"mode": "overlay"})
        return self


# -- triggers -----------------------------------------------------------------------------------


class PageView(_Strict):
    type: Literal["page_view"]
    # A glob on the page's path ("/products/*"), or "re:<regex>" searched in the whole URL.
    url: str = Field(min_length=1, max_length=MAX_TEXT)

    @field_validator("url")
    @classmethod
    def _pattern(cls, url: str) -> str:
        if url.startswith(REGEX_PREFIX):
            compiled = compile_pattern(url[len(REGEX_PREFIX) :])
            if isinstance(compiled, str):
                raise ValueError(compiled)
        elif not url.startswith(("/", "*")):
            raise ValueError(
                "a glob on the page's path starts with / or * (e.g. /products/*), or "
                "'re:' and a regular expression on the URL"
            )
        return url


class ProductView(_Strict):
    type: Literal["product_view"]


class CartValue(_Strict):
    type: Literal["cart_value"]
    over: float = Field(ge=0, le=1e12)


class Checkout(_Strict):
    type: Literal["checkout"]
    path: str = Field("/checkout*", min_length=1, max_length=MAX_TEXT)  # a glob on the path


class EventTrigger(_Strict):
    """An event in the person's history: an off-site one (an e-mail click, a store visit) or
    the Nth of something ("3 Paywall Viewed within 7d")."""

    type: Literal["event"]
    name: _Text
    within: str = Field("1d", min_length=1, max_length=32)
    count: int = Field(1, ge=1, le=10_000)

    @field_validator("within")
    @classmethod
    def _duration(cls, within: str) -> str:
        if within != "session":
            try:
                ms = parse_duration(within)
            except (ValueError, RelevoError) as error:
                raise ValueError(str(error)) from None
            # What the behaviour counters answer ($event): whole days, at most 400 of them.
            if ms % DAY_MS or ms > BEHAVIOUR_DAYS * DAY_MS:
                raise ValueError(
                    f'whole days up to {BEHAVIOUR_DAYS}d ("7d", "2w") or "session", got {within!r}'
                )
        return within


class ExitIntent(_Strict):
    type: Literal["exit_intent"]


class ScrollDepth(_Strict):
    type: Literal["scroll_depth"]
    percent: int = Field(ge=1, le=100)


class TimeOnPage(_Strict):
    type: Literal["time_on_page"]
    seconds: int = Field(ge=1, le=3600)


class Inactivity(_Strict):
    type: Literal["inactivity"]
    seconds: int = Field(ge=1, le=3600)


class AddToCart(_Strict):
    type: Literal["add_to_cart"]


Trigger = Annotated[
    PageView | ProductView | CartValue | Checkout | EventTrigger | ExitIntent | ScrollDepth
    | TimeOnPage | Inactivity | AddToCart,
    Field(discriminator="type"),
]  # fmt: skip


def is_browser_trigger(trigger: Any) -> bool:
    return getattr(trigger, "type", None) in BROWSER_TRIGGERS


def path_matches(pattern: str, path: str) -> bool:
    """A page_view/checkout glob against a path (case-sensitive, as URLs are)."""
    return fnmatch.fnmatchcase(path, pattern)


def url_matches(pattern: str, url: str | None, path: str | None) -> bool:
    if pattern.startswith(REGEX_PREFIX):
        compiled = compile_pattern(pattern[len(REGEX_PREFIX) :])
        return isinstance(compiled, re.Pattern) and url is not None and bool(compiled.search(url))
    return path is not None and path_matches(pattern, path)


# -- interactive experiences ---------------------------------------------------------------------


class EmailCapture(_Strict):
    kind: Literal["email_capture"]
    prompt: str = Field("", max_length=500)
    consent: str = Field("newsletter", pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")  # consent category
    button: str = Field("Subscribe", max_length=100)


class Option(_Strict):
    value: _Text
    label: str = Field(min_length=1, max_length=200)


class SelfSelection(_Strict):
    kind: Literal["self_selection"]
    prompt: str = Field("", max_length=500)
    trait: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")  # stored as preferences.<trait>
    options: list[Option] = Field(min_length=2, max_length=MAX_OPTIONS)


class Answer(_Strict):
    value: _Text
    label: str = Field(min_length=1, max_length=200)
    filter: dict[str, str] = Field(default_factory=dict, max_length=5)  # e.g. {"category": "..."}
    boost: dict[str, str] = Field(default_factory=dict, max_length=5)  # e.g. {"brand": "..."}

    @field_validator("filter", "boost")
    @classmethod
    def _fields(cls, given: dict[str, str]) -> dict[str, str]:
        allowed = ("category", "brand")
        unknown = [k for k in given if k not in allowed]
        if unknown:
            raise ValueError(f"{unknown[0]!r}: answers filter or boost on {' or '.join(allowed)}")
        return given


class Question(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")  # stored as preferences.<id>
    text: str = Field(min_length=1, max_length=500)
    answers: list[Answer] = Field(min_length=2, max_length=MAX_ANSWERS)


class Quiz(_Strict):
    kind: Literal["quiz"]
    prompt: str = Field("", max_length=500)
    questions: list[Question] = Field(min_length=1, max_length=MAX_QUESTIONS)
    recommendations: RecommendationBlock


Interactive = Annotated[EmailCapture | SelfSelection | Quiz, Field(discriminator="kind")]


# -- experiences ---------------------------------------------------------------------------------


class Variant(_Strict):
    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
    name: str = Field("", max_length=200)
    weight: float = Field(1.0, gt=0, le=1e6)
    content: dict[str, Any] = Field(default_factory=dict)
    template: str | None = Field(None, max_length=20_000)
    recommendations: RecommendationBlock | None = None
    interactive: Interactive | None = None

    @model_validator(mode="after")
    def _shows_something(self) -> Variant:
        if not (self.content or self.template or self.recommendations or self.interactive):
            raise ValueError("a variant shows content, a template, recommendations or a form")
        return self


class Frequency(_Strict):
    per_session: int | None = Field(None, ge=1, le=1000)
    per_day: int | None = Field(None, ge=1, le=1000)
    lifetime: int | None = Field(None, ge=1, le=100_000)
    stop_after_conversion: bool = False


class Experience(_Strict):
    id: str = Field(pattern=ID)
    name: str = Field("", max_length=200)
    description: str = Field("", max_length=2000)
    placement: str = Field(pattern=ID)
    status: Literal["active", "paused"] = "active"
    priority: int = Field(0, ge=-1000, le=1000)
    audience: str | None = Field(None, min_length=1, max_length=64)
    condition: dict[str, Any] | None = None
    trigger: Trigger | None = None
    frequency: Frequency = Frequency()
    schedule: Schedule = Schedule()
    label: str | None = Field(None, min_length=1, max_length=100)
    variants: list[Variant] = Field(min_length=1, max_length=MAX_VARIANTS)

    @field_validator("variants")
    @classmethod
    def _unique_variants(cls, variants: list[Variant]) -> list[Variant]:
        ids = [v.id for v in variants]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise ValueError(f"variant ids repeat: {', '.join(repeated)}")
        return variants

    def window_ms(self) -> tuple[float, float]:
        return self.schedule.window_ms()


_PLACEMENT: TypeAdapter[Placement] = TypeAdapter(Placement)
_EXPERIENCE: TypeAdapter[Experience] = TypeAdapter(Experience)


def _describe(error: ValidationError) -> str:
    problems = []
    for item in error.errors(include_url=False)[:3]:
        where = _path(item["loc"]) or "body"
        message = str(item["msg"]).removeprefix("Value error, ")
        problems.append(f"{where}: {message}")
    return "; ".join(problems)


_TAGS = (
    *SERVER_TRIGGERS, *BROWSER_TRIGGERS, "email_capture", "self_selection", "quiz"
)  # fmt: skip


def _path(loc: tuple[int | str, ...]) -> str:
    """``variants[1].template``: pydantic's location without the union tags it adds."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in _TAGS:
            continue
        else:
            out += f".{part}" if out else str(part)
    return out


def _json_size(value: Any) -> int:
    try:
        return len(orjson.dumps(value))
    except (TypeError, orjson.JSONEncodeError):
        return MAX_CONTENT_BYTES + 1


def parse_placement(data: Any, *, strategies: Collection[str]) -> Placement:
    if not isinstance(data, dict):
        raise InvalidExperience("body: a placement is a JSON object")
    try:
        placement = _PLACEMENT.validate_python(data)
    except ValidationError as error:
        raise InvalidExperience(_describe(error)) from None
    if placement.default is not None:
        _check_content("default.content", placement.default.content)
        _check_template("default.template", placement.default.template)
    if placement.recommendations is not None:
        _check_strategy("recommendations.strategy", placement.recommendations, strategies)
    return placement


def parse_experience(
    data: Any,
    *,
    placements: Mapping[str, Placement],
    audiences: Collection[str],
    strategies: Collection[str],
    check_condition: Callable[[Any], object],
) -> Experience:
    """A validated experience. ``placements``: the workspace's; ``audiences``: the ids of its
    built-in and saved audiences; ``check_condition`` raises (naming the part) for a condition
    the audiences' language refuses."""
    if not isinstance(data, dict):
        raise InvalidExperience("body: an experience is a JSON object")
    try:
        experience = _EXPERIENCE.validate_python(data)
    except ValidationError as error:
        raise InvalidExperience(_describe(error)) from None
    if experience.placement not in placements:
        raise InvalidExperience(
            f"placement: no placement {experience.placement!r} in this workspace "
            "(POST /v1/placements creates one)"
        )
    if experience.audience is not None and experience.audience not in audiences:
        raise InvalidExperience(
            f"audience: no audience {experience.audience!r} here, built in or saved "
            "(GET /v1/audiences lists them)"
        )
    if experience.condition is not None:
        try:
            check_condition(experience.condition)
        except RelevoError as error:
            # The conditions' message starts with the path (condition.traits.plan.$regexx).
            raise InvalidExperience(error.message) from None
    for number, variant in enumerate(experience.variants):
        where = f"variants[{number}]"
        _check_content(f"{where}.content", variant.content)
        _check_template(f"{where}.template", variant.template)
        blocks = [(f"{where}.recommendations", variant.recommendations)]
        if variant.interactive is not None and variant.interactive.kind == "quiz":
            quiz = variant.interactive.recommendations
            blocks.append((f"{where}.interactive.recommendations", quiz))
        for part, block in blocks:
            if block is not None:
                _check_strategy(f"{part}.strategy", block, strategies)
                if block.audience is not None and block.audience not in audiences:
                    raise InvalidExperience(f"{part}.audience: no audience {block.audience!r}")
    return experience


def _check_content(where: str, content: dict[str, Any]) -> None:
    if _json_size(content) > MAX_CONTENT_BYTES:
        raise InvalidExperience(f"{where}: at most {MAX_CONTENT_BYTES // 1000} kB as JSON")


def _check_template(where: str, source: str | None) -> None:
    if source is not None:
        problem = compile_problem(source)
        if problem is not None:
            raise InvalidExperience(f"{where}: {problem}")


def _check_strategy(where: str, block: RecommendationBlock, strategies: Collection[str]) -> None:
    if block.strategy not in strategies:
        raise InvalidExperience(
            f"{where}: unknown strategy {block.strategy!r}; available: "
            f"{', '.join(sorted(strategies))}"
        )


def stored(model: BaseModel) -> dict[str, Any]:
    """As saved: validated, defaults filled in, so every server reads the same definition."""
    return model.model_dump(mode="json", exclude_none=False)
