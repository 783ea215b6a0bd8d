"""Computed profile attributes, freshness, behaviour counts, GDPR export and erase."""

from __future__ import annotations

import itertools
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.conftest import Api

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1"
)
DESKTOP = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)


def _at(days_ago: float, minutes: float = 0) -> str:
    return (datetime.now(UTC) - timedelta(days=days_ago, minutes=-minutes)).isoformat()


def test_profile_is_fresh_within_a_second(api: Api) -> None:
    api.send("track", event="Product Viewed", anonymousId="fresh", properties={"product_id": "p"})
    assert api.settle() < 1.0


def test_sessions_split_after_30_minutes_of_inactivity(api: Api) -> None:
    times = [_at(2, 0), _at(2, 10), _at(2, 39), _at(2, 80), _at(1, 0)]
    api.batch([{"type": "page", "anonymousId": "s", "timestamp": ts} for ts in times])
    assert api.profile("anonymous_id", "s")["computed"]["sessions"] == 3


def test_orders_revenue_and_lifecycle(api: Api) -> None:
    api.send("page", anonymousId="buyer-anon", timestamp=_at(20))
    assert api.profile("anonymous_id", "buyer-anon")["computed"]["lifecycle_stage"] == "new_visitor"
    api.send("page", anonymousId="buyer-anon", timestamp=_at(10))
    assert (
        api.profile("anonymous_id", "buyer-anon")["computed"]["lifecycle_stage"]
        == "returning_visitor"
    )
    api.send(
        "track",
        event="Order Completed",
        anonymousId="buyer-anon",
        timestamp=_at(9),
        properties={"order_id": "1", "products": [{"product_id": "a", "price": 10, "quantity": 3}]},
    )
    computed = api.profile("anonymous_id", "buyer-anon")["computed"]
    assert (computed["orders"], computed["revenue"], computed["lifecycle_stage"]) == (
        1,
        30.0,
        "first_time_customer",
    )
    api.send(
        "track",
        event="Order Completed",
        anonymousId="buyer-anon",
        timestamp=_at(1),
        properties={"order_id": "2", "revenue": 50},
    )
    computed = api.profile("anonymous_id", "buyer-anon")["computed"]
    assert computed["orders"] == 2 and computed["revenue"] == 80.0
    assert computed["average_order_value"] == 40.0
    assert computed["lifecycle_stage"] == "repeat_customer"


def test_lapsed_customer_after_ten_months(api: Api) -> None:
    api.send(
        "track",
        event="Order Completed",
        userId="old-buyer",
        timestamp=_at(320),
        properties={"order_id": "x", "revenue": 12},
    )
    assert api.profile("user_id", "old-buyer")["computed"]["lifecycle_stage"] == "lapsed_customer"


def test_product_views_cart_adds_and_decayed_interests(api: Api) -> None:
    api.batch(
        [
            {
                "type": "track",
                "event": "Product Viewed",
                "anonymousId": "fan",
                "timestamp": _at(60),
                "properties": {"product_id": "1", "category": "Shoes", "brand": "Acme"},
            },
            {
                "type": "track",
                "event": "Product Viewed",
                "anonymousId": "fan",
                "timestamp": _at(60),
                "properties": {"product_id": "2", "category": "Shoes", "brand": "Acme"},
            },
            {
                "type": "track",
                "event": "Product Viewed",
                "anonymousId": "fan",
                "timestamp": _at(1),
                "properties": {"product_id": "3", "category": "Hats", "brand": "Zed"},
            },
            {
                "type": "track",
                "event": "Product Added",
                "anonymousId": "fan",
                "timestamp": _at(1),
                "properties": {"product_id": "3", "category": "Hats", "brand": "Zed"},
            },
        ]
    )
    computed = api.profile("anonymous_id", "fan")["computed"]
    assert computed["product_views"] == 3 and computed["cart_adds"] == 1
    # Two old views (two half-lives ago) weigh less than a fresh view and a cart add.
    assert [c["name"] for c in computed["top_categories"]] == ["Hats", "Shoes"]
    assert computed["top_brands"][0]["name"] == "Zed"


def test_device_from_user_agent_follows_the_latest_event(api: Api) -> None:
    api.send("page", anonymousId="dev", timestamp=_at(2), context={"userAgent": DESKTOP})
    api.send("page", anonymousId="dev", timestamp=_at(1), context={"userAgent": IPHONE})
    device = api.profile("anonymous_id", "dev")["computed"]["device"]
    assert device == {"type": "mobile", "os": "iOS", "browser": "Mobile Safari"}


def test_first_and_current_traffic_source(api: Api) -> None:
    api.send(
        "page",
        anonymousId="visitor",
        timestamp=_at(5),
        context={
            "page": {
                "url": "https://shop.example/?utm_source=google&utm_medium=cpc&utm_campaign=winter",
                "referrer": "https://www.google.com/",
            }
        },
    )
    api.send(
        "page",
        anonymousId="visitor",
        timestamp=_at(1),
        context={
            "page": {"url": "https://shop.example/p/1", "referrer": "https://www.facebook.com/"}
        },
    )
    computed = api.profile("anonymous_id", "visitor")["computed"]
    assert computed["first_touch"]["channel"] == "paid"
    assert computed["first_touch"]["campaign"] == "winter"
    assert computed["current_session_touch"]["channel"] == "social"


def test_email_link_click_is_an_email_visit(api: Api) -> None:
    api.send(
        "track", event="Email Link Clicked", userId="mailer", properties={"campaign_name": "spring"}
    )
    api.send(
        "page",
        userId="mailer",
        context={
            "campaign": {"source": "newsletter", "medium": "email"},
            "page": {"url": "https://shop.example/sale"},
        },
    )
    computed = api.profile("user_id", "mailer")["computed"]
    assert computed["current_session_touch"]["channel"] == "email"
    assert computed["event_counts"]["Email Link Clicked"] == 1


def test_traits_last_write_wins_by_timestamp_with_history(api: Api) -> None:
    api.send("identify", userId="t", traits={"city": "Malmö", "age": 30}, timestamp=_at(1))
    api.send("identify", userId="t", traits={"city": "Lund"}, timestamp=_at(3))  # late, older
    api.send("identify", userId="t", traits={"age": 31}, timestamp=_at(0.5))
    profile = api.profile("user_id", "t")
    assert profile["traits"] == {"city": "Malmö", "age": 31}
    changes = api.get("/v1/profiles/user_id/t/traits/history")["changes"]
    history = [(c["trait"], c["old_value"], c["new_value"]) for c in changes]
    # Changes are logged in event-time order; the late, older "Lund" never overwrote "Malmö".
    assert [h for h in history if h[0] == "age"] == [("age", None, 30), ("age", 30, 31)]
    assert [h for h in history if h[0] == "city"][-1][2] == "Malmö"
    assert ("city", "Malmö", "Lund") not in history


def test_a_merged_persons_trait_history_is_one_timeline(api: Api) -> None:
    api.send("identify", anonymousId="tab", traits={"city": "Malmö"}, timestamp=_at(4))
    api.send("identify", userId="tl", traits={"city": "Lund", "age": 40}, timestamp=_at(3))
    api.send("identify", anonymousId="tab", traits={"age": 41}, timestamp=_at(2))
    api.settle()
    api.send("identify", userId="tl", anonymousId="tab", timestamp=_at(1))  # same person: merge
    api.settle()
    assert api.profile("user_id", "tl")["traits"] == {"city": "Lund", "age": 41}
    changes = api.get("/v1/profiles/user_id/tl/traits/history")["changes"]
    for trait in ("city", "age"):
        chain = [(c["old_value"], c["new_value"]) for c in changes if c["trait"] == trait]
        # Each change starts where the previous one ended, in event time.
        assert chain[0][0] is None
        assert all(a[1] == b[0] for a, b in itertools.pairwise(chain)), chain
    assert [(c["old_value"], c["new_value"]) for c in changes if c["trait"] == "city"] == [
        (None, "Malmö"),
        ("Malmö", "Lund"),
    ]


def test_group_calls_give_the_person_their_accounts(api: Api) -> None:
    api.send(
        "group",
        userId="g",
        groupId="acme",
        traits={"name": "Acme", "plan": "pro"},
        timestamp=_at(2),
    )
    api.send("group", userId="g", groupId="acme", traits={"plan": "enterprise"}, timestamp=_at(1))
    api.send(
        "group", userId="g", groupId="acme", traits={"plan": "free", "size": 9}, timestamp=_at(3)
    )  # late and older: fills "size", does not undo "enterprise"
    api.send("group", userId="g", groupId=42, timestamp=_at(0.5))
    groups = api.profile("user_id", "g")["computed"]["groups"]
    assert [g["group_id"] for g in groups] == ["42", "acme"]  # most recently seen first
    acme = groups[1]
    assert acme["traits"] == {"name": "Acme", "plan": "enterprise", "size": 9}
    assert acme["first_seen"] < acme["last_seen"]


def test_declared_preferences_and_consent(api: Api) -> None:
    api.send(
        "identify",
        userId="pref",
        traits={"preferences": {"sizes": ["M"]}, "preferred_color": "blue"},
        context={"consent": {"categoryPreferences": {"Advertising": False, "Analytics": True}}},
    )
    profile = api.profile("user_id", "pref")
    assert profile["preferences"] == {"sizes": ["M"], "color": "blue"}
    assert profile["consent"] == {"Advertising": False, "Analytics": True}


def test_event_count_with_window_and_conditions(api: Api) -> None:
    api.batch(
        [
            {"type": "track", "event": "Paywall Shown", "userId": "r", "timestamp": _at(10)},
            {
                "type": "track",
                "event": "Paywall Shown",
                "userId": "r",
                "timestamp": _at(3),
                "properties": {"section": "sport"},
            },
            {
                "type": "track",
                "event": "Paywall Shown",
                "userId": "r",
                "timestamp": _at(2),
                "properties": {"section": "news"},
            },
            {
                "type": "track",
                "event": "Paywall Shown",
                "userId": "r",
                "timestamp": _at(1),
                "properties": {"section": "news", "n": 5},
            },
        ]
    )
    path = "/v1/profiles/user_id/r/event-count"
    assert api.get(path, event="Paywall Shown")["count"] == 4
    assert api.get(path, event="Paywall Shown", days=7)["count"] == 3
    assert api.get(path, event="Paywall Shown", days=7, where='{"section": "news"}')["count"] == 2
    assert api.get(path, event="Paywall Shown", where='{"n": {"$gte": 5}}')["count"] == 1
    assert api.get(path, event="Paywall Shown", session=True)["count"] == 0  # session over
    bad = api.client.get(
        path, params={"event": "X", "where": '{"n": {"$near": 1}}'}, headers=api.secret_auth
    )
    assert bad.status_code == 400
    assert bad.json()["error"]["message"].startswith("where.n.$near: unknown operator")
    # One condition language: a top-level $or is an operator, not a property named "$or".
    either = '{"$or": [{"n": {"$gte": 5}}, {"section": "sport"}]}'
    assert api.get(path, event="Paywall Shown", where=either)["count"] == 2
    regex = '{"section": {"$regex": "^ne"}}'
    assert api.get(path, event="Paywall Shown", where=regex)["count"] == 2
    for where, part in (
        ("[1]", "where: "),
        ("{", "where: not valid JSON"),
        ('{"$and": 1}', "where.and"),
    ):
        bad = api.client.get(path, params={"event": "X", "where": where}, headers=api.secret_auth)
        assert bad.status_code == 400 and bad.json()["error"]["message"].startswith(part)


def test_event_count_in_this_session(api: Api) -> None:
    api.send("track", event="Product Viewed", anonymousId="live", timestamp=_at(1))
    api.send("track", event="Product Viewed", anonymousId="live")
    api.send("track", event="Product Viewed", anonymousId="live")
    api.settle()
    count = api.get(
        "/v1/profiles/anonymous_id/live/event-count", event="Product Viewed", session=True
    )
    assert count["count"] == 2


def test_timeline_pagination(api: Api) -> None:
    api.batch(
        [
            {"type": "track", "event": f"E{i}", "userId": "pager", "timestamp": _at(1, i)}
            for i in range(7)
        ]
    )
    seen, cursor = [], None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = api.get("/v1/profiles/user_id/pager/events", **params)
        seen += [e["event"] for e in page["events"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"E{i}" for i in reversed(range(7))]


def _export(api: Api, kind: str, value: str) -> dict[str, list[Any]]:
    response = api.client.get(f"/v1/profiles/{kind}/{value}/export", headers=api.secret_auth)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/x-ndjson")
    records: dict[str, list[Any]] = {}
    for line in response.text.splitlines():
        record = json.loads(line)
        records.setdefault(record["record"], []).append(record["data"])
    return records


def test_gdpr_export_contains_everything(api: Api) -> None:
    api.send("track", event="Product Viewed", anonymousId="gdpr-a", properties={"product_id": "1"})
    api.send("identify", anonymousId="gdpr-a", userId="gdpr-u", traits={"email": "g@example.com"})
    api.client.post("/v1/track", json={"userId": "gdpr-u"}, headers=api.server_auth)  # quarantined
    api.settle()
    export = _export(api, "email", "g@example.com")
    assert export["profile_view"][0]["traits"] == {"email": "g@example.com"}
    assert [p["traits"] for p in export["profile"]] == [{"email": "g@example.com"}]
    assert len(export["event"]) == 2
    assert len(export["quarantined_message"]) == 1
    assert export["trait_change"][0]["new_value"] == "g@example.com"
    assert {(i["kind"], i["value"]) for i in export["identity"]} == {
        ("anonymous_id", "gdpr-a"),
        ("user_id", "gdpr-u"),
        ("email", "g@example.com"),
    }


def test_gdpr_erase_deletes_everything_and_is_idempotent(api: Api) -> None:
    api.send("track", event="E", anonymousId="erase-a")
    api.send("identify", userId="erase-u")
    api.send("identify", anonymousId="erase-a", userId="erase-u", traits={"email": "e@example.com"})
    api.client.post("/v1/track", json={"anonymousId": "erase-a"}, headers=api.server_auth)
    api.send("identify", userId="keep-me")
    api.settle()
    first = api.client.delete("/v1/profiles/email/e@example.com", headers=api.secret_auth).json()
    assert first["erased"] is True
    assert first["deleted"] == {
        "profiles": 2,
        "identities": 3,
        "events": 3,
        "trait_changes": 1,
        "merges": 1,
        "claims": 0,
        "audience_memberships": 0,
        "audience_deliveries": 0,
        "quarantined_messages": 1,
        "messages_claiming_them": 0,
        "profile_scores": 0,
        "experiment_assignments": 0,
        "experience_exposures": 0,
    }
    for kind, value in [
        ("user_id", "erase-u"),
        ("anonymous_id", "erase-a"),
        ("email", "e@example.com"),
    ]:
        assert (
            api.client.get(f"/v1/profiles/{kind}/{value}", headers=api.secret_auth).status_code
            == 404
        )
    again = api.client.delete("/v1/profiles/user_id/erase-u", headers=api.secret_auth).json()
    assert again["erased"] is False and set(again["deleted"].values()) == {0}
    assert api.profile("user_id", "keep-me")["computed"]["events"] == 1


def test_materializer_survives_merge_while_events_stream(api: Api) -> None:
    api.batch(
        [
            {
                "type": "track",
                "event": "Product Viewed",
                "anonymousId": f"m{i}",
                "properties": {"product_id": str(i)},
            }
            for i in range(20)
        ]
    )
    api.batch(
        [{"type": "identify", "anonymousId": f"m{i}", "userId": "collector"} for i in range(20)]
        + [
            {
                "type": "track",
                "event": "Product Viewed",
                "userId": "collector",
                "properties": {"product_id": "x"},
            }
        ]
    )
    deadline = time.monotonic() + 5
    computed = api.profile("user_id", "collector")["computed"]
    while computed["events"] != 41 and time.monotonic() < deadline:
        computed = api.profile("user_id", "collector")["computed"]
    assert computed["product_views"] == 21
    assert computed["events"] == 41


def test_ecommerce_and_email_events_have_their_own_attributes(api: Api) -> None:
    names = [
        "Products Searched",
        "Product List Viewed",
        "Product Added",
        "Product Removed",
        "Cart Viewed",
        "Checkout Started",
        "Email Opened",
        "Email Link Clicked",
    ]
    api.batch(
        [
            {"type": "track", "event": n, "userId": "shopper", "timestamp": _at(2, i)}
            for i, n in enumerate(names)
        ]
    )
    computed = api.profile("user_id", "shopper")["computed"]
    assert {
        k: computed[k]
        for k in (
            "searches",
            "list_views",
            "cart_adds",
            "cart_removals",
            "cart_views",
            "checkouts_started",
            "email_opens",
            "email_clicks",
        )
    } == dict.fromkeys(
        (
            "searches",
            "list_views",
            "cart_adds",
            "cart_removals",
            "cart_views",
            "checkouts_started",
            "email_opens",
            "email_clicks",
        ),
        1,
    )
    assert computed["last_email_engagement_at"] is not None
    assert computed["cart_open_since"] is not None  # added, not bought: an abandoned cart
    api.send(
        "track",
        event="Order Completed",
        userId="shopper",
        timestamp=_at(1),
        properties={"order_id": "x", "revenue": 5},
    )
    assert api.profile("user_id", "shopper")["computed"]["cart_open_since"] is None


def test_an_account_has_its_traits_members_and_totals(api: Api) -> None:
    api.send(
        "group",
        userId="ann",
        groupId="acme",
        traits={"name": "Acme", "plan": "pro"},
        timestamp=_at(3),
    )
    api.send(
        "group",
        anonymousId="dev-b",
        groupId="acme",
        traits={"plan": "enterprise"},
        timestamp=_at(2),
    )
    api.send("group", userId="cy", groupId=7, timestamp=_at(2))  # a number is the same id as text
    api.send(
        "track",
        userId="ann",
        event="Order Completed",
        properties={"revenue": 100},
        timestamp=_at(1),
    )
    api.send(
        "identify",
        userId="bob",
        anonymousId="dev-b",
        traits={"email": "Bob@Acme.com"},
        timestamp=_at(1.5),
    )
    api.settle()
    account = api.get("/v1/groups/acme")
    assert account["traits"] == {"name": "Acme", "plan": "enterprise"}
    assert account["members_total"] == 2
    assert account["totals"]["orders"] == 1 and account["totals"]["revenue"] == 100.0
    members = {m["user_id"]: m for m in account["members"]}
    assert set(members) == {"ann", "bob"}  # dev-b's call belongs to Bob once he logged in
    assert members["bob"]["email"] == "bob@acme.com"
    assert members["ann"]["lifecycle_stage"] == "first_time_customer"
    assert api.get("/v1/groups/7")["members"][0]["user_id"] == "cy"
    assert api.get("/v1/groups/acme", limit=1)["members_total"] == 2
    assert len(api.get("/v1/groups/acme", limit=1)["members"]) == 1

    missing = api.client.get("/v1/groups/nope", headers=api.secret_auth)
    assert missing.status_code == 404 and "nope" in missing.json()["error"]["message"]
    api.client.delete("/v1/profiles/user_id/ann", headers=api.secret_auth)
    assert [m["user_id"] for m in api.get("/v1/groups/acme")["members"]] == ["bob"]
