"""Frequency caps and "stop after conversion": pure functions over the exposure counters that
relevo.storage.exposure_store keeps per visitor and experience.

Exposures are system events (they move no behaviour counter, session or last-seen), so the
counts are kept apart. A visitor may be counted under two keys (their anonymous id before
Relevo knew a profile for them, the profile after): the rows of both are read and added up.

The current session is the profile's own (``computed.session_started_at`` while its last event
is within the session timeout); without one (a visitor who sent nothing lately), exposures
keep a session of their own, which lasts while decisions come within the timeout.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

DAY_MS = 86_400_000


@dataclass(frozen=True)
class ExposureCounts:
    """One counter row: how often an experience was shown to one visitor key."""

    lifetime: int = 0
    first_at: int | None = None
    last_at: int | None = None
    day: int = -1  # the UTC day (epoch days) `day_count` counts
    day_count: int = 0
    session_key: int = -1  # the session (its start, epoch ms) `session_count` counts
    session_count: int = 0


@dataclass(frozen=True)
class Caps:
    per_session: int | None = None
    per_day: int | None = None
    lifetime: int | None = None
    stop_after_conversion: bool = False

    @property
    def any(self) -> bool:
        return (
            self.per_session is not None
            or self.per_day is not None
            or self.lifetime is not None
            or self.stop_after_conversion
        )


def today(now_ms: int) -> int:
    return now_ms // DAY_MS


def _number(value: Any) -> int | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    return None


def current_session(
    computed: Mapping[str, Any],
    rows: Sequence[ExposureCounts],
    now_ms: int,
    timeout_ms: int,
) -> int:
    """The key of the visitor's session now (its start, epoch ms)."""
    last_seen = _number(computed.get("last_seen"))
    started = _number(computed.get("session_started_at"))
    if last_seen is not None and started is not None and now_ms - last_seen <= timeout_ms:
        return started
    latest = max(
        (r for r in rows if r.last_at is not None), key=lambda r: r.last_at or 0, default=None
    )
    if latest is not None and latest.last_at is not None and now_ms - latest.last_at <= timeout_ms:
        return latest.session_key
    return now_ms


@dataclass(frozen=True)
class Seen:
    """One experience's exposures to one visitor, its counter rows added up for now."""

    lifetime: int
    today: int
    session: int
    first_at: int | None


def seen(rows: Sequence[ExposureCounts], session_key: int, now_ms: int) -> Seen:
    day = today(now_ms)
    firsts = [r.first_at for r in rows if r.first_at is not None]
    return Seen(
        lifetime=sum(r.lifetime for r in rows),
        today=sum(r.day_count for r in rows if r.day == day),
        session=sum(r.session_count for r in rows if r.session_key == session_key),
        first_at=min(firsts) if firsts else None,
    )


def capped(caps: Caps, exposures: Seen, last_order_at: Any) -> str | None:
    """Why the experience may not be shown again now (None: it may)."""
    if caps.lifetime is not None and exposures.lifetime >= caps.lifetime:
        return f"shown {exposures.lifetime} times in all (lifetime cap {caps.lifetime})"
    if caps.per_day is not None and exposures.today >= caps.per_day:
        return f"shown {exposures.today} times today (cap {caps.per_day} per day)"
    if caps.per_session is not None and exposures.session >= caps.per_session:
        return f"shown {exposures.session} times this session (cap {caps.per_session})"
    order = _number(last_order_at)
    if (
        caps.stop_after_conversion
        and exposures.first_at is not None
        and order is not None
        and order >= exposures.first_at
    ):
        return "the visitor ordered after first seeing it (stop after conversion)"
    return None
