"""Exact behaviour counts: "how many events named X, with these property conditions, did this
person have in the last N days / in this session". Audiences build on this.

The property conditions are Relevo's one condition language (`relevo.conditions`), evaluated
against the event's ``properties``: ``{"category": "shoes", "price": {"$gte": 50}}``, and also
``$or``, ``$regex``, ``$in`` ... A condition that is not valid is refused with a 400 naming the
offending part (``where.price.$near: unknown operator``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from relevo.conditions import Condition, InvalidCondition, validate

MAX_EVENTS_COUNTED = 10_000  # examined per request; beyond, a count says it is not exact
DAY_MS = 86_400_000


def count_matching(events: Iterable[dict[str, Any]], condition: Condition | None) -> int:
    total = 0
    for payload in events:
        if condition is None:
            total += 1
            continue
        properties = payload.get("properties")
        if condition.matches(properties if isinstance(properties, dict) else {}):
            total += 1
    return total


def parse_conditions(text: str | None) -> Condition | None:
    """Conditions as the API receives them: JSON text, validated; None counts every event."""
    if not text:
        return None
    try:
        source = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise InvalidCondition("where", "not valid JSON") from None
    return validate(source, root="where")


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
