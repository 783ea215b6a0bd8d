"""Audiences every workspace has, ready to use (and to copy as a starting point). Their ids
are reserved: a saved audience cannot take one."""

from __future__ import annotations

from typing import Any

from relevo.profiles.lifecycle import LifecycleThresholds

_EMAIL_MEDIA = ["email", "e-mail", "newsletter"]
_PAID_MEDIA = ["cpc", "ppc", "paid", "paidsearch", "paid_search", "paid-search", "paid_social"]


def _channel(channel: str, media: list[str]) -> dict[str, Any]:
    """The request's UTM medium when there is a request, else how this session began."""
    return {
        "$or": [
            {"context.utm.medium": {"$ini": media}},
            {"computed.session_touch.channel": channel},
        ]
    }


def builtin_audiences(thresholds: LifecycleThresholds) -> list[dict[str, Any]]:
    """Each as {"id", "name", "description", "condition"}."""
    lapsed = thresholds.lapsed_after_days
    return [
        {
            "id": "new-visitor",
            "name": "New visitor",
            "description": "In their first session, never ordered",
            "condition": {"computed.sessions": {"$lte": 1}, "computed.orders": 0},
        },
        {
            "id": "returning-visitor",
            "name": "Returning visitor",
            "description": "More than one session",
            "condition": {"computed.sessions": {"$gt": 1}},
        },
        {
            "id": "customer",
            "name": "Customer",
            "description": "At least one order",
            "condition": {"computed.orders": {"$gte": 1}},
        },
        {
            "id": "repeat-customer",
            "name": "Repeat customer",
            "description": "Two orders or more",
            "condition": {"computed.orders": {"$gte": 2}},
        },
        {
            "id": "lapsed-customer",
            "name": "Lapsed customer",
            "description": f"Ordered, not in the last {lapsed} days (setting lapsed_after_days)",
            "condition": {
                "computed.orders": {"$gte": 1},
                "computed.days_since_last_order": {"$gt": lapsed},
            },
        },
        {
            "id": "cart-abandoner",
            "name": "Cart abandoner",
            "description": "Added to cart since their last order, then not seen for an hour",
            "condition": {
                "computed.cart_open": True,
                "computed.hours_since_last_seen": {"$gte": 1},
            },
        },
        {
            "id": "high-value",
            "name": "High value",
            "description": "Revenue of 500 or more (copy it to set your own threshold)",
            "condition": {"computed.revenue": {"$gte": 500}},
        },
        {
            "id": "from-newsletter",
            "name": "From the newsletter",
            "description": "This visit came from an e-mail",
            "condition": _channel("email", _EMAIL_MEDIA),
        },
        {
            "id": "from-ppc",
            "name": "From paid search or ads",
            "description": "This visit came from a paid campaign or an ad click id",
            "condition": _channel("paid", _PAID_MEDIA),
        },
        {
            "id": "from-organic-search",
            "name": "From organic search",
            "description": "This visit came from a search engine's results",
            "condition": _channel("search", ["organic"]),
        },
        {
            "id": "from-social",
            "name": "From social media",
            "description": "This visit came from a social network",
            "condition": _channel("social", ["social", "social-network", "social_network", "sm"]),
        },
        {
            "id": "mobile",
            "name": "Mobile",
            "description": "On a phone: the request's device, else the latest one seen",
            "condition": {
                "$or": [
                    {"context.device.type": "mobile"},
                    {"context.device": {"$exists": False}, "computed.device.type": "mobile"},
                ]
            },
        },
        {
            "id": "b2b-account-member",
            "name": "B2B account member",
            "description": "A member of an account (a group call from the shop's servers)",
            "condition": {"accounts": {"$size": {"$gt": 0}}},
        },
    ]


BUILTIN_IDS = frozenset(a["id"] for a in builtin_audiences(LifecycleThresholds()))
