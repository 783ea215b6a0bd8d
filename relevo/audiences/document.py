"""The document an audience's condition sees: one person now, and the request when there is one.

    {"traits": {...}, "preferences": {...}, "consent": {...} | null,
     "computed": {"orders", "revenue", "sessions", "lifecycle_stage", "days_since_last_order",
                  "hours_since_last_seen", "cart_open", "top_categories": ["Shoes", ...],
                  "device": {"type": "mobile", ...}, "first_touch": {"channel": ...},
                  "session_touch": {"channel": "email", ...}, "event_counts": {...}, ...},
     "accounts": [{"id": "acme", "traits": {"plan": "enterprise", ...}}, ...],
     "account": {"id": ..., "traits": {...}} | null      the most recently seen account
     "segment": {"id", "label"}, "propensity": {"purchase_30d", "churn_90d"},
     "clv": {"next_12m"}                                   relevo train's scores (null before)
     "context": {"page": {"url", "path", "referrer"}, "utm": {"source", "medium", ...},
                 "device": {...}, "country", "product": {...}, "cart": {"items", "value",
                 "count"}, "local": {"hour", "weekday"}} | null}

Built from what is stored (traits and computed state), judged at ``now_ms``: the same function
serves a request (with its context) and a whole-workspace query (without), so both
interpreters see the same document.
"""

from __future__ import annotations

from typing import Any

from relevo.profiles.lifecycle import LifecycleThresholds, lifecycle_stage
from relevo.profiles.state import ProfileRules, top_interests
from relevo.profiles.traits import declared_preferences
from relevo.profiles.view import COUNTS, order_figures
from relevo.scores.records import NO_SCORES

DAY_MS = 86_400_000
HOUR_MS = 3_600_000


# What of the stored state each derived attribute of ``computed`` is made from (the others
# are the state's key of the same name), so a whole-workspace query reads only those keys.
_MADE_FROM = {
    "lifecycle_stage": ("orders", "sessions", "last_order_at"),
    "average_order_value": ("orders", "revenue"),
    "days_since_first_seen": ("first_seen",),
    "days_since_last_seen": ("last_seen",),
    "hours_since_last_seen": ("last_seen",),
    "days_since_last_order": ("last_order_at",),
    "days_since_first_order": ("first_order_at",),
    "cart_open": ("cart_open_since",),
    "top_categories": ("interests",),
    "top_brands": ("interests",),
}


def state_read_for(path: str) -> tuple[tuple[str, ...] | None, bool]:
    """For a document path: the computed state's keys it is made from (None: all of it) and
    whether it needs the traits."""
    head, _, rest = path.partition(".")
    if head in ("traits", "preferences"):
        return (), True
    if head == "consent":
        return ("consent",), True
    if head in ("accounts", "account"):
        return ("groups",), False
    if head == "computed":
        if not rest:
            return None, False
        key = rest.split(".", 1)[0]
        return _MADE_FROM.get(key, (key,)), False
    return (), False  # context (no request here) or a name the document does not have


def _since(now_ms: int, at: Any, unit: int) -> float | None:
    if not isinstance(at, int | float) or isinstance(at, bool):
        return None
    return round(max(0.0, (now_ms - at) / unit), 2)


def computed_document(
    computed: dict[str, Any],
    now_ms: int,
    rules: ProfileRules,
    thresholds: LifecycleThresholds,
    interests: bool = True,
) -> dict[str, Any]:
    """``interests=False`` leaves out top_categories and top_brands (ranking the decayed
    scores is most of the cost), for a whole-workspace query whose condition reads neither."""
    scores = (computed.get("interests") or {}) if interests else {}
    half_life = rules.interest_half_life_ms
    top = top_interests(scores.get("categories", {}), now_ms, half_life) if scores else []
    brands = top_interests(scores.get("brands", {}), now_ms, half_life) if scores else []
    return {
        **{key: computed.get(key, 0) for key in COUNTS},
        **order_figures(computed),
        "lifecycle_stage": lifecycle_stage(computed, now_ms, thresholds),
        "days_since_first_seen": _since(now_ms, computed.get("first_seen"), DAY_MS),
        "days_since_last_seen": _since(now_ms, computed.get("last_seen"), DAY_MS),
        "hours_since_last_seen": _since(now_ms, computed.get("last_seen"), HOUR_MS),
        "days_since_last_order": _since(now_ms, computed.get("last_order_at"), DAY_MS),
        "days_since_first_order": _since(now_ms, computed.get("first_order_at"), DAY_MS),
        "cart_open": "cart_open_since" in computed,
        "top_categories": [i["name"] for i in top],
        "top_brands": [i["name"] for i in brands],
        "device": computed.get("device"),
        "first_touch": computed.get("first_touch"),
        "session_touch": computed.get("session_touch"),
        "event_counts": computed.get("event_counts", {}),
    }


def accounts_document(computed: dict[str, Any]) -> list[dict[str, Any]]:
    """The person's accounts (trusted group calls only: the fold keeps no other), most
    recently seen first."""
    groups = computed.get("groups") or {}
    ordered = sorted(groups.items(), key=lambda item: -item[1].get("last_seen", 0))
    return [{"id": group_id, "traits": group.get("traits", {})} for group_id, group in ordered]


def person_document(
    traits: dict[str, Any],
    computed: dict[str, Any],
    now_ms: int,
    rules: ProfileRules,
    thresholds: LifecycleThresholds,
    context: dict[str, Any] | None = None,
    interests: bool = True,
    scores: dict[str, Any] | None = None,
) -> dict[str, Any]:
    consent = computed.get("consent")
    if consent is None and isinstance(traits.get("consent"), dict):
        consent = traits["consent"]
    accounts = accounts_document(computed)
    return {
        "traits": traits,
        "preferences": declared_preferences(traits),
        "consent": consent,
        "computed": computed_document(computed, now_ms, rules, thresholds, interests),
        "accounts": accounts,
        "account": accounts[0] if accounts else None,
        "context": context,
        # relevo train's scores: null before a training, and for a prospect or a newcomer.
        "segment": (scores or NO_SCORES)["segment"],
        "propensity": (scores or NO_SCORES)["propensity"],
        "clv": (scores or NO_SCORES)["clv"],
    }
