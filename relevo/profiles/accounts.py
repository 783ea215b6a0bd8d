"""An account (the company, household or team of Segment's `group` call): its traits, folded
from the group calls like a person's, and its members with the account's totals."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from relevo.profiles.lifecycle import LifecycleThresholds, lifecycle_stage
from relevo.profiles.state import apply_group
from relevo.profiles.view import iso


@dataclass(frozen=True)
class GroupCall:
    profile_id: int
    timestamp: int
    seq: int
    payload: dict[str, Any]


@dataclass(frozen=True)
class Member:
    profile_id: int
    user_id: str | None
    email: str | None
    computed: dict[str, Any]


MAX_GROUP_CALLS = 20_000  # the latest calls an account is folded from
MAX_MEMBERS = 10_000  # members read for the totals and the member pages


def account_view(
    group_id: str,
    calls: list[GroupCall],
    members: list[Member],
    page: tuple[int, int],
    now_ms: int,
    thresholds: LifecycleThresholds,
    complete: bool = True,
) -> dict[str, Any]:
    """``calls`` in time order; ``members`` are the profiles the calls belong to; ``page`` is
    (offset, size) into the members, most recently seen first. ``complete``: the calls and
    members were all read (a very large account is folded from its latest ones)."""
    offset, size = page
    folded: dict[str, Any] = {}
    joined: dict[int, int] = {}
    for call in calls:
        apply_group(folded, call.payload, call.timestamp)
        joined.setdefault(call.profile_id, call.timestamp)
    account = folded["groups"][group_id]
    members = sorted(members, key=lambda m: -int(m.computed.get("last_seen", 0)))
    return {
        "group_id": group_id,
        "traits": account["traits"],
        "first_seen": iso(account["first_seen"]),
        "last_seen": iso(account["last_seen"]),
        "members_total": len(members),
        "complete": complete,
        "next_cursor": str(offset + size) if offset + size < len(members) else None,
        "totals": {
            "orders": sum(int(m.computed.get("orders", 0)) for m in members),
            "revenue": round(sum(float(m.computed.get("revenue", 0.0)) for m in members), 2),
            "last_seen": iso(max((m.computed.get("last_seen", 0) for m in members), default=None)),
        },
        "members": [
            {
                "profile_id": m.profile_id,
                "user_id": m.user_id,
                "email": m.email,
                "joined": iso(joined.get(m.profile_id)),
                "last_seen": iso(m.computed.get("last_seen")),
                "orders": int(m.computed.get("orders", 0)),
                "revenue": round(float(m.computed.get("revenue", 0.0)), 2),
                "lifecycle_stage": lifecycle_stage(m.computed, now_ms, thresholds),
            }
            for m in members[offset : offset + size]
        ],
    }
