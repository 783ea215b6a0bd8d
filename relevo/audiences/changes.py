"""Entering and leaving audiences: the differences between who was in an audience (built-in
or saved) when last judged and who is now, as the `Audience Entered` / `Audience Exited`
system events and the webhook messages (Standard Webhooks 1.0, saved audiences only) that
tell other systems. Pure."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Set
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

ENTERED, EXITED = "Audience Entered", "Audience Exited"
# Retries of a webhook delivery, in seconds after each failed attempt; then it has failed.
BACKOFF_SECONDS = (5, 30, 120, 600, 1800, 3600, 7200, 14400)


@dataclass(frozen=True, slots=True)
class Change:
    audience_id: str
    profile_id: int
    entered: bool

    @property
    def event(self) -> str:
        return ENTERED if self.entered else EXITED


def differences(
    before: Mapping[int, Set[str]], now: Mapping[int, Set[str]], judged: Set[str]
) -> list[Change]:
    """For each profile judged: audiences entered and exited among ``judged`` (an audience
    not judged this time, e.g. one that no longer validates, changes nobody)."""
    changes = []
    for profile_id in sorted(set(before) | set(now)):
        was = before.get(profile_id, set()) & judged
        is_ = now.get(profile_id, set()) & judged
        changes += [Change(a, profile_id, True) for a in sorted(is_ - was)]
        changes += [Change(a, profile_id, False) for a in sorted(was - is_)]
    return changes


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def system_event(change: Change, name: str, now_ms: int) -> dict[str, Any]:
    """The event recorded in the person's timeline (a system event: no counter moves)."""
    return {
        "type": "track",
        "event": change.event,
        "messageId": f"relevo-audience-{uuid.uuid4().hex}",
        "timestamp": iso(now_ms),
        "properties": {"audience_id": change.audience_id, "audience_name": name},
        "context": {"relevo": {"system": True}},
    }


def webhook_message(
    change: Change, name: str, now_ms: int, identities: Mapping[str, str]
) -> dict[str, Any]:
    """Standard Webhooks' payload shape: type, timestamp, data."""
    return {
        "type": "audience.entered" if change.entered else "audience.exited",
        "timestamp": iso(now_ms),
        "data": {
            "audience_id": change.audience_id,
            "audience_name": name,
            "profile_id": change.profile_id,
            **{kind: value for kind, value in identities.items() if kind in ("user_id", "email")},
        },
    }


def next_attempt(attempts: int, now_ms: int) -> int | None:
    """When to try again after ``attempts`` failures; None: give up."""
    if attempts > len(BACKOFF_SECONDS):
        return None
    return now_ms + BACKOFF_SECONDS[attempts - 1] * 1000
