"""The profile as the API shows it: identities, traits and computed attributes, judged now."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from relevo.profiles.lifecycle import LifecycleThresholds, lifecycle_stage
from relevo.profiles.records import Person
from relevo.profiles.state import ProfileRules, top_interests
from relevo.profiles.traits import declared_preferences

_TIMES = (
    "first_seen",
    "last_seen",
    "last_order_at",
    "first_order_at",
    "session_started_at",
    "cart_open_since",
    "last_email_engagement_at",
)
# The counters of the fold a profile shows (0 when the person has none yet); audiences read
# the same ones.
COUNTS = (
    "sessions",
    "events",
    "page_views",
    "screen_views",
    "product_views",
    "list_views",
    "searches",
    "cart_adds",
    "cart_removals",
    "cart_views",
    "checkouts_started",
    "email_opens",
    "email_clicks",
)


def iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return (
        datetime.fromtimestamp(ms / 1000, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def order_figures(computed: dict[str, Any]) -> dict[str, Any]:
    """Orders, revenue, refunds and the average order as a profile shows them (audiences see
    the same)."""
    orders = int(computed.get("orders", 0))
    revenue = float(computed.get("revenue", 0.0))
    return {
        "orders": orders,
        "revenue": round(revenue, 2),
        "refunded": computed.get("refunded", 0.0),
        "average_order_value": round(revenue / orders, 2) if orders else None,
    }


def computed_view(
    computed: dict[str, Any], now_ms: int, rules: ProfileRules, thresholds: LifecycleThresholds
) -> dict[str, Any]:
    interests = computed.get("interests", {})
    half_life = rules.interest_half_life_ms
    return {
        **{key: iso(computed.get(key)) for key in _TIMES},
        **{key: computed.get(key, 0) for key in COUNTS},
        **order_figures(computed),
        "lifecycle_stage": lifecycle_stage(computed, now_ms, thresholds),
        "top_categories": top_interests(interests.get("categories", {}), now_ms, half_life),
        "top_brands": top_interests(interests.get("brands", {}), now_ms, half_life),
        "device": computed.get("device"),
        "first_touch": computed.get("first_touch"),
        "current_session_touch": computed.get("session_touch"),
        "event_counts": computed.get("event_counts", {}),
        # What did not fit under the per-person caps (event names, traits, account traits).
        "overflow": computed.get("overflow", {}),
        "groups": [
            {
                "group_id": group_id,
                "traits": group["traits"],
                "first_seen": iso(group["first_seen"]),
                "last_seen": iso(group["last_seen"]),
            }
            for group_id, group in sorted(
                computed.get("groups", {}).items(), key=lambda item: -item[1]["last_seen"]
            )
        ],
    }


def profile_view(
    person: Person, now_ms: int, rules: ProfileRules, thresholds: LifecycleThresholds
) -> dict[str, Any]:
    traits = person.traits
    consent = person.computed.get("consent")
    if consent is None and isinstance(traits.get("consent"), dict):
        consent = traits["consent"]
    return {
        "profile_id": person.profile_id,
        "created_at": iso(person.created_at),
        "updated_at": iso(person.updated_at),
        "identities": [
            {"kind": i["kind"], "value": i["value"], "first_seen": iso(i["first_seen_ms"])}
            for i in person.identities
        ],
        "merged_profile_ids": person.merged_ids,
        "claimed_identities": [
            {
                "kind": c["kind"],
                "value": c["value"],
                "reason": c["reason"],
                "message_id": c["message_id"],
                "first_seen": iso(c["first_seen_ms"]),
            }
            for c in person.claims
        ],
        "traits": traits,
        "preferences": declared_preferences(traits),
        "consent": consent,
        "computed": computed_view(person.computed, now_ms, rules, thresholds),
    }
