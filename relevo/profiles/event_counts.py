"""Exact behaviour counts: "how many events named X, with these property conditions, did this
person have in the last N days / in this session". Audiences build on this.

Conditions are a small MongoDB-style subset: ``{"category": "shoes", "price": {"$gte": 50}}``
with $eq $ne $gt $gte $lt $lte $in $nin $exists.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from relevo.errors import RelevoError

MAX_EVENTS_COUNTED = 10_000  # examined per request; beyond, a count says it is not exact
DAY_MS = 86_400_000
OPERATORS = ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists")
_MISSING = object()


class InvalidCondition(RelevoError):
    code = "invalid_condition"


def validate_conditions(conditions: Any) -> dict[str, Any]:
    if not isinstance(conditions, dict):
        raise InvalidCondition("'where' must be a JSON object of property conditions")
    for prop, condition in conditions.items():
        if isinstance(condition, dict):
            for op, operand in condition.items():
                if op not in OPERATORS:
                    raise InvalidCondition(
                        f"unknown operator {op!r} on {prop!r}; use one of {', '.join(OPERATORS)}"
                    )
                if op in ("$in", "$nin") and not isinstance(operand, list):
                    raise InvalidCondition(f"{op} on {prop!r} needs a list")
    return conditions


def _lookup(properties: dict[str, Any], path: str) -> Any:
    value: Any = properties
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return _MISSING
        value = value[part]
    return value


def _compare(value: Any, op: str, operand: Any) -> bool:
    if op == "$exists":
        return (value is not _MISSING) == bool(operand)
    if op == "$eq":
        return bool(value == operand)
    if op == "$ne":
        return bool(value != operand)
    if op == "$in":
        return value in operand
    if op == "$nin":
        return value not in operand
    if value is _MISSING or isinstance(value, bool) or isinstance(operand, bool):
        return False
    try:
        if op == "$gt":
            return bool(value > operand)
        if op == "$gte":
            return bool(value >= operand)
        if op == "$lt":
            return bool(value < operand)
        return bool(value <= operand)
    except TypeError:
        return False  # comparing a number with a string never matches


def matches(properties: dict[str, Any], conditions: dict[str, Any]) -> bool:
    for prop, condition in conditions.items():
        value = _lookup(properties, prop)
        if isinstance(condition, dict):
            if not all(_compare(value, op, operand) for op, operand in condition.items()):
                return False
        elif value != condition:
            return False
    return True


def count_matching(events: Iterable[dict[str, Any]], conditions: dict[str, Any]) -> int:
    total = 0
    for payload in events:
        properties = payload.get("properties")
        if matches(properties if isinstance(properties, dict) else {}, conditions):
            total += 1
    return total


def parse_conditions(text: str | None) -> dict[str, Any]:
    """Conditions as the API receives them: JSON text, validated."""
    if not text:
        return {}
    try:
        return validate_conditions(orjson.loads(text))
    except orjson.JSONDecodeError:
        raise InvalidCondition("'where' is not valid JSON") from None


def session_start(computed: dict[str, Any], now_ms: int, timeout_ms: int) -> int:
    """When the person's current session began; a session that timed out has ended, so "this
    session" starts now and holds nothing yet."""
    started = computed.get("session_started_at")
    last_seen = computed.get("last_seen") or 0
    return int(started) if started is not None and now_ms - last_seen <= timeout_ms else now_ms


def window_start(
    computed: dict[str, Any], now_ms: int, days: float | None, session: bool, timeout_ms: int
) -> int | None:
    """The earliest event time a count covers: the last ``days``, this session, both (the
    later bound), or everything (None)."""
    since = None if days is None else now_ms - int(days * DAY_MS)
    if session:
        since = max(since or 0, session_start(computed, now_ms, timeout_ms))
    return since
