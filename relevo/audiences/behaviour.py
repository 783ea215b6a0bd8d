"""Behaviour operators: ``$event``, answered from the counters the profile fold keeps per
person (relevo.profiles.state: daily buckets per event name and per declared property, the
current session's count, the latest time), never by reading events.

    {"$event": {"name": "Paywall Viewed", "within": "7d", "count": {"$gte": 3}}}
    {"$event": {"name": "Product Viewed", "within": "30d", "where": {"category": "Shoes"}}}
    {"$event": {"name": "Order Completed", "within": "90d", "sum": "revenue",
                "total": {"$gte": 200}}}
    {"$event": {"name": "Product Added", "within": "session"}}
    {"$event": {"name": "Order Completed", "days_since": {"$gt": 90}}}

``within`` is whole days ("7d", "2w": the last N calendar days in UTC, today included, at most
400) or "session" (the current session; none when it timed out); without it, the last 400
days. ``count`` (default ``{"$gte": 1}``), ``total`` (with ``sum``: a property the
installation sums) and ``days_since`` (days since the latest such event; null when never)
take a number or comparison operators, read as everywhere in the condition language.
``where`` is what the counters can answer: one property whose values are bucketed for this
event, equal to a value or ``$in`` a list of values; anything else is refused when the
condition is saved, naming the part.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from relevo.conditions import Condition, Extension, InvalidCondition, parse_duration, validate
from relevo.conditions.outcome import Outcome
from relevo.profiles.state import BEHAVIOUR_DAYS, DAY_MS, ProfileRules

NAME = "$event"
_KEYS = ("name", "within", "where", "count", "sum", "total", "days_since")


@dataclass(frozen=True, slots=True)
class EventQuery:
    """A validated ``$event`` operand."""

    name: str
    days: int  # calendar days counted, today included
    session: bool
    where: tuple[str, frozenset[str]] | None
    measure: str  # count | sum | days_since
    prop: str | None  # the summed property
    test: Condition  # applied to {"v": the measure}
    source: dict[str, Any]


def _comparison(spec: Any, path: str) -> Condition:
    if isinstance(spec, dict):
        if not spec or not all(isinstance(k, str) and k.startswith("$") for k in spec):
            raise InvalidCondition(path, "expected a number or comparison operators")
    elif isinstance(spec, bool) or not isinstance(spec, int | float):
        raise InvalidCondition(path, f"expected a number or comparison operators, got {spec!r}")
    compiled = validate({"v": spec}, root=path)
    return compiled


def _where(where: Any, path: str, name: str, rules: ProfileRules) -> tuple[str, frozenset[str]]:
    validate(where, root=path)  # a valid condition first, with the language's own messages
    values_of = [p for p, kind in rules.bucketed_for(name) if kind == "values"]
    if not isinstance(where, dict) or len(where) != 1:
        raise InvalidCondition(
            path, 'behaviour counters answer one property at a time, e.g. {"category": "Shoes"}'
        )
    prop, spec = next(iter(where.items()))
    if prop not in values_of:
        raise InvalidCondition(
            f"{path}.{prop}",
            f"the counters keep no buckets of {prop!r} for {name!r}; bucketed: "
            f"{', '.join(values_of) or 'none'}",
        )
    if isinstance(spec, dict) and list(spec) == ["$eq"]:
        spec = spec["$eq"]
    if isinstance(spec, dict) and list(spec) == ["$in"] and isinstance(spec["$in"], list):
        wanted = spec["$in"]
    else:
        wanted = [spec]
    for value in wanted:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise InvalidCondition(
                f"{path}.{prop}",
                'the counters answer a value or {"$in": [values]} of strings or numbers',
            )
    return prop, frozenset(str(v) for v in wanted)


def check_event(operand: Any, path: str, rules: ProfileRules) -> EventQuery:
    if not isinstance(operand, dict):
        raise InvalidCondition(path, 'expected an object such as {"name": "Order Completed"}')
    for key in operand:
        if key not in _KEYS:
            raise InvalidCondition(f"{path}.{key}", f"unknown key; use {', '.join(_KEYS)}")
    name = operand.get("name")
    if not isinstance(name, str) or not name or len(name) > 255:
        raise InvalidCondition(f"{path}.name", "expected the event's name")
    within = operand.get("within")
    session, days = False, BEHAVIOUR_DAYS
    if within == "session":
        session = True
    elif within is not None:
        try:
            ms = parse_duration(within)
        except ValueError as e:
            raise InvalidCondition(f"{path}.within", str(e)) from None
        if ms % DAY_MS:
            raise InvalidCondition(
                f"{path}.within", 'behaviour windows are whole days ("7d", "2w") or "session"'
            )
        days = ms // DAY_MS
        if days > BEHAVIOUR_DAYS:
            raise InvalidCondition(f"{path}.within", f"at most {BEHAVIOUR_DAYS}d")
    measures = [k for k in ("count", "total", "days_since") if k in operand]
    if len(measures) > 1:
        raise InvalidCondition(path, f"one of count, total, days_since; got {measures}")
    measure = measures[0] if measures else "count"
    prop = operand.get("sum")
    if measure == "total" or prop is not None:
        summed = [p for p, kind in rules.bucketed_for(name) if kind == "sum"]
        if not isinstance(prop, str) or prop not in summed:
            raise InvalidCondition(
                f"{path}.sum",
                f"a property the counters sum for {name!r}: {', '.join(summed) or 'none'}",
            )
        if measure != "total":
            raise InvalidCondition(f"{path}.total", 'sum needs total, e.g. {"$gte": 100}')
    where = None
    if "where" in operand:
        if session or measure != "count":
            raise InvalidCondition(
                f"{path}.where", "the counters answer where for counts over days only"
            )
        where = _where(operand["where"], f"{path}.where", name, rules)
    if session and measure == "total":
        raise InvalidCondition(f"{path}.within", "sums are kept over days, not sessions")
    spec = operand.get(measure, {"$gte": 1})
    test = _comparison(spec, f"{path}.{measure}")
    return EventQuery(
        name, days, session, where, "sum" if measure == "total" else measure, prop, test, operand
    )


def event_extension(rules: ProfileRules) -> Extension:
    return Extension(NAME, lambda operand, path: check_event(operand, path, rules))


def measure(query: EventQuery, computed: dict[str, Any], now_ms: int, timeout_ms: int) -> Any:
    """The count, sum or days-since the query asks about, for one person now."""
    counter = (computed.get("behaviour") or {}).get(query.name)
    if query.measure == "days_since":
        if counter is None:
            return None
        return round(max(0.0, (now_ms - counter["last"]) / DAY_MS), 2)
    if counter is None:
        return 0
    if query.session:
        started, n = counter.get("s") or (0, 0)
        current = computed.get("session_started_at")
        alive = now_ms - (computed.get("last_seen") or 0) <= timeout_ms
        return n if alive and started == current else 0
    first = now_ms // DAY_MS - query.days + 1
    if query.measure == "sum":
        buckets = (counter.get("sum") or {}).get(query.prop) or {}
        return round(sum(v for day, v in buckets.items() if int(day) >= first), 6)
    if query.where is None:
        return sum(n for day, n in counter["d"].items() if int(day) >= first)
    prop, values = query.where
    by_value = (counter.get("v") or {}).get(prop) or {}
    return sum(
        n for value in values for day, n in (by_value.get(value) or {}).items() if int(day) >= first
    )


def counter_paths(query: EventQuery) -> list[tuple[str, ...]]:
    """The parts of the computed state `measure` reads for this query: a whole-workspace
    read can fetch only these (a few numbers instead of every counter)."""
    base = ("behaviour", query.name)
    if query.measure == "days_since":
        return [(*base, "last")]
    if query.session:
        return [(*base, "s"), ("session_started_at",), ("last_seen",)]
    if query.measure == "sum":
        return [(*base, "sum", str(query.prop))]
    if query.where is None:
        return [(*base, "d")]
    prop, values = query.where
    return [(*base, "v", prop, value) for value in sorted(values)]


def behaviour_answer(
    computed: dict[str, Any], now_ms: int, timeout_ms: int
) -> Callable[[Any, Any], Outcome]:
    """The ``$event`` answer for one person: (kept operand, document) -> Outcome."""

    def answer(query: Any, _document: Any) -> Outcome:
        if not isinstance(query, EventQuery):
            return Outcome(False, f"{NAME}: not a validated behaviour condition")
        value = measure(query, computed, now_ms, timeout_ms)
        matched = query.test.matches({"v": value})
        return Outcome(matched, lambda: _reason(query, value, matched))

    return answer


_WHAT = {"count": "count", "sum": "sum of {prop}", "days_since": "days since the latest"}


def _reason(query: EventQuery, value: Any, matched: bool) -> str:
    what = _WHAT[query.measure].format(prop=query.prop)
    window = (
        ""
        if query.measure == "days_since"
        else (" this session" if query.session else f" in the last {query.days} days")
    )
    asked = query.source.get("total" if query.measure == "sum" else query.measure, {"$gte": 1})
    verdict = "matches" if matched else "does not match"
    return f"{NAME} {query.name!r}: {what} {value}{window} {verdict} {orjson.dumps(asked).decode()}"
