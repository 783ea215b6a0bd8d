"""Condition evaluation cost: 50 typical audience conditions against one profile-sized document,
one core, no I/O. The bar it serves: 50 audiences for one visitor in <= 1 ms p99 (PERF-NOTES:
"profile dict + 50 small conditions 36 us (22 us if compiled once)"). Usage:

    .venv/bin/python bench/conditions.py [--rounds 2000]

Reports per round of 50 conditions: raw JSON each time (`evaluate`), compiled once
(`Condition.evaluate`, with reasons) and compiled once without reasons (`Condition.matches`);
p50 / p99 / mean in microseconds, and how many of the 50 matched.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

from relevo.conditions import SavedGroups, evaluate, validate

PROFILE: dict[str, Any] = {
    "profile_id": "p_8c1f",
    "traits": {
        "email": "ada@example.com",
        "first_name": "Ada",
        "plan": "free",
        "country": "GB",
        "birthday": "1990-12-25",
        "loyalty": {"tier": "silver", "points": 1240},
        "newsletter": True,
    },
    "computed": {
        "first_seen": "2026-01-03T10:00:00.000Z",
        "last_seen": "2026-11-30T18:12:00.000Z",
        "sessions": 41,
        "page_views": 388,
        "product_views": 122,
        "searches": 17,
        "cart_adds": 9,
        "cart_removals": 2,
        "checkouts_started": 4,
        "email_opens": 12,
        "email_clicks": 3,
        "orders": 3,
        "revenue": 412.5,
        "average_order_value": 137.5,
        "lifecycle_stage": "repeat_customer",
        "top_categories": ["shoes", "bags", "outdoor"],
        "top_brands": ["acme", "northwind"],
        "device": {"type": "mobile", "os": "iOS", "os_version": "17.4.1", "browser": "Safari"},
        "first_touch": {"source": "search", "medium": "organic"},
        "current_session_touch": {"source": "email", "campaign": "winter-sale"},
        "event_counts": {"Product Viewed": 122, "Paywall Viewed": 2, "Order Completed": 3},
        "groups": [{"group_id": "acme-ltd", "traits": {"industry": "retail", "seats": 40}}],
    },
    "user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "page": {"path": "/products/trail-runner-2", "referrer": "https://www.google.com/"},
}

_BASE: list[dict[str, Any]] = [
    {"computed.lifecycle_stage": "repeat_customer"},
    {"computed.lifecycle_stage": {"$in": ["new_visitor", "returning_visitor"]}},
    {"computed.orders": {"$gte": 1}},
    {"computed.orders": 0},
    {"computed.revenue": {"$gt": 500}},
    {"computed.average_order_value": {"$gte": 100, "$lt": 200}},
    {"computed.top_categories": {"$in": ["shoes", "sneakers"]}},
    {"computed.top_categories": {"$elemMatch": {"$eq": "outdoor"}}},
    {"computed.top_brands": {"$all": ["acme"]}},
    {"computed.device.type": "mobile", "computed.device.os": "iOS"},
    {"computed.device.os_version": {"$vgte": "17.0.0"}},
    {"user_agent": {"$regex": "(iPhone|iPad)"}},
    {"page.path": {"$regex": "^/products/"}},
    {"traits.email": {"$regexi": "@example\\.com$"}},
    {"traits.plan": {"$ne": "pro"}},
    {"traits.country": {"$nin": ["US", "CA"]}},
    {"traits.loyalty.tier": {"$in": ["gold", "silver"]}},
    {"traits.newsletter": True},
    {"traits.coupon": {"$exists": False}},
    {"traits.birthday": {"$regex": "-12-25$"}},
    {"computed.cart_adds": {"$gt": 0}, "computed.orders": {"$lt": 5}},
    {"$or": [{"computed.first_touch.source": "search"}, {"computed.first_touch.source": "paid"}]},
    {"$and": [{"computed.sessions": {"$gte": 10}}, {"computed.email_clicks": {"$gte": 1}}]},
    {"$not": {"computed.lifecycle_stage": "lapsed_customer"}},
    {"computed.groups": {"$elemMatch": {"traits.industry": "retail"}}},
    {"traits.email": {"$inGroup": "vip_customers"}},
]


def conditions() -> list[dict[str, Any]]:
    """50: the 26 above and 24 variations on them (other thresholds and values)."""
    variations: list[dict[str, Any]] = [
        {"computed.product_views": {"$gte": n}} for n in (5, 50, 500)
    ] + [{"computed.top_categories": {"$in": [c]}} for c in ("bags", "toys", "garden")]
    variations += [{"computed.device.browser": b} for b in ("Safari", "Chrome", "Firefox")]
    variations += [{"traits.loyalty.points": {"$gte": p}} for p in (100, 1000, 5000)]
    variations += [
        {"$or": [{"computed.orders": {"$gte": n}}, {"computed.revenue": {"$gte": 100 * n}}]}
        for n in (1, 3, 10)
    ]
    variations += [{"computed.event_counts.Paywall Viewed": {"$gte": n}} for n in (1, 2, 3)]
    variations += [{"computed.current_session_touch.campaign": {"$regex": "^winter"}}] * 3
    variations += [{"traits.country": {"$in": ["GB", "IE"]}, "traits.plan": "free"}] * 3
    return (_BASE + variations)[:50]


def measure(round_: Callable[[], int], rounds: int) -> tuple[list[float], int]:
    matched = round_()
    timings = []
    for _ in range(rounds):
        started = time.perf_counter()
        round_()
        timings.append(time.perf_counter() - started)
    return timings, matched


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2000)
    args = parser.parse_args()
    raw = conditions()
    assert len(raw) == 50
    groups = SavedGroups({"vip_customers": [f"c{i}@example.com" for i in range(10_000)]})
    compiled = [validate(c) for c in raw]

    def raw_round() -> int:
        return sum(evaluate(c, PROFILE, saved_groups=groups).matched for c in raw)

    def compiled_round() -> int:
        return sum(c.evaluate(PROFILE, saved_groups=groups).matched for c in compiled)

    def matches_round() -> int:
        return sum(c.matches(PROFILE, saved_groups=groups) for c in compiled)

    print(f"50 conditions against one profile ({args.rounds} rounds, one core)")
    print(f"{'form':<40} {'p50 us':>8} {'p99 us':>8} {'mean us':>8} matched")
    for name, round_ in [
        ("evaluate(raw JSON) each time", raw_round),
        ("validate once, Condition.evaluate", compiled_round),
        ("validate once, Condition.matches", matches_round),
    ]:
        timings, matched = measure(round_, args.rounds)
        ordered = sorted(timings)
        p50 = ordered[len(ordered) // 2] * 1e6
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1e6
        mean = statistics.fmean(timings) * 1e6
        print(f"{name:<40} {p50:8.1f} {p99:8.1f} {mean:8.1f} {matched}/50")


if __name__ == "__main__":
    main()
