"""Audiences through HTTP on both backends: saved and validated, built in, a person's
audiences with why (behaviour counters, request context, accounts), previews and members."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from relevo.scores.records import ProfileScore
from tests.conftest import Api
from tests.test_rules_api import ON_SALE, _ids, _recommend, shop  # noqa: F401 (a fixture)

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
)


def _at(days_ago: float, minutes: float = 0) -> str:
    return (datetime.now(UTC) - timedelta(days=days_ago, minutes=-minutes)).isoformat()


def _post(api: Api, path: str, body: Any) -> Any:
    return api.client.post(path, json=body, headers=api.secret_auth)


def _audiences(api: Api, kind: str, value: str, **params: Any) -> dict[str, str]:
    api.settle()
    found = api.get(f"/v1/profiles/{kind}/{value}/audiences", **params)
    return {a["id"]: a["why"] for a in found["audiences"]}


def test_saved_audiences_are_created_read_changed_and_deleted(api: Api) -> None:
    body = {
        "id": "big-spenders",
        "name": "Big spenders",
        "condition": {"computed.revenue": {"$gte": 100}},
    }
    created = _post(api, "/v1/audiences", body)
    assert created.status_code == 201, created.text
    assert created.json()["condition"] == body["condition"]
    assert _post(api, "/v1/audiences", body).status_code == 409
    listed = api.get("/v1/audiences")["audiences"]
    ids = [a["id"] for a in listed]
    assert "big-spenders" in ids and {"new-visitor", "repeat-customer", "mobile"} <= set(ids)
    changed = api.client.put(
        "/v1/audiences/big-spenders",
        json={"name": "Bigger", "condition": {"computed.revenue": {"$gte": 1000}}},
        headers=api.secret_auth,
    )
    assert changed.status_code == 200
    assert api.get("/v1/audiences/big-spenders")["name"] == "Bigger"
    assert api.client.delete("/v1/audiences/big-spenders", headers=api.secret_auth).json() == {
        "deleted": "big-spenders"
    }
    missing = api.client.get("/v1/audiences/big-spenders", headers=api.secret_auth)
    assert missing.status_code == 404
    gone = api.client.delete("/v1/audiences/big-spenders", headers=api.secret_auth)
    assert gone.status_code == 404


def test_a_condition_is_validated_when_saved_naming_the_part(api: Api) -> None:
    cases = [
        ({"$and": [{"a": 1}, {"b": 2}, {"price": {"$gte": {}}}]}, "condition.and[2].price.$gte"),
        ({"price": {"$near": 1}}, "condition.price.$near: unknown operator"),
        ({"name": {"$regex": "(unclosed"}}, "condition.name.$regex"),
        ({"$event": {"name": "X", "within": "12h"}}, "condition.$event.within"),
        ({"$event": {"name": "X", "within": "soon"}}, "condition.$event.within"),
        ({"$event": {"name": "X", "where": {"colour": "red"}}}, "condition.$event.where.colour"),
        (
            {"$event": {"name": "X", "where": {"category": "a", "brand": "b"}}},
            "condition.$event.where",
        ),
        ({"$event": {"name": "X", "count": "many"}}, "condition.$event.count"),
        ({"$event": {"name": "X", "sum": "colour", "total": {"$gt": 1}}}, "condition.$event.sum"),
    ]
    for condition, part in cases:
        for path in ("/v1/audiences", "/v1/audiences/preview"):
            body = {"condition": condition}
            if path == "/v1/audiences":
                body |= {"id": "x", "name": "x"}
            answer = _post(api, path, body)
            assert answer.status_code == 400, (condition, answer.text)
            assert answer.json()["error"]["message"].startswith(part), answer.text
    reserved = _post(api, "/v1/audiences", {"id": "mobile", "name": "m", "condition": {}})
    assert reserved.status_code == 400 and "built-in" in reserved.json()["error"]["message"]
    bad_id = _post(api, "/v1/audiences", {"id": "Big Spenders", "name": "m", "condition": {}})
    assert bad_id.status_code == 400
    builtin = api.client.delete("/v1/audiences/mobile", headers=api.secret_auth)
    assert builtin.status_code == 400


def test_a_persons_audiences_with_why(api: Api) -> None:
    for n, days in enumerate((40, 2)):
        api.send(
            "track",
            userId="buyer",
            event="Order Completed",
            timestamp=_at(days),
            properties={"order_id": f"o{n}", "revenue": 300},
            context={"userAgent": IPHONE},
        )
    found = _audiences(api, "user_id", "buyer")
    assert {"customer", "repeat-customer", "high-value", "returning-visitor", "mobile"} <= set(
        found
    )
    assert "new-visitor" not in found and "lapsed-customer" not in found
    assert "computed.revenue" in found["high-value"] and "600" in found["high-value"]
    # The request's context: this visit comes from the newsletter, on a desktop.
    context = {
        "page": {"url": "https://shop.example/?utm_source=news&utm_medium=email"},
        "userAgent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0 Safari/537.36",
    }
    found = _audiences(api, "user_id", "buyer", context=json.dumps(context))
    assert "from-newsletter" in found and "mobile" not in found
    everything = api.get("/v1/profiles/user_id/buyer/audiences", all=True)["audiences"]
    new_visitor = next(a for a in everything if a["id"] == "new-visitor")
    assert new_visitor["member"] is False and "computed.sessions" in new_visitor["why"]
    bad = api.client.get(
        "/v1/profiles/user_id/buyer/audiences", params={"context": "{"}, headers=api.secret_auth
    )
    assert bad.status_code == 400
    # A malformed part of a context is left out, never a 500.
    odd = {"cart": {"products": 5}, "timezone": "../../etc/passwd", "page": "x", "userAgent": 1}
    odd_answer = api.get("/v1/profiles/user_id/buyer/audiences", context=json.dumps(odd))
    assert "customer" in {a["id"] for a in odd_answer["audiences"]}
    # Local time of day and weekday, from the request's time zone (UTC+14 here).
    zone = ZoneInfo("Pacific/Kiritimati")
    before = datetime.now(zone)
    answer = api.get(
        "/v1/profiles/user_id/buyer/audiences",
        context=json.dumps({"timezone": "Pacific/Kiritimati"}),
        all=True,
    )
    after = datetime.now(zone)
    for moment in (before, after):
        hour_audience = {
            "id": f"at-{moment.hour}",
            "name": "h",
            "condition": {"context.local.hour": moment.hour},
        }
        _post(api, "/v1/audiences", hour_audience)
    found = _audiences(
        api, "user_id", "buyer", context=json.dumps({"timezone": "Pacific/Kiritimati"})
    )
    assert {f"at-{before.hour}", f"at-{after.hour}"} & set(found)
    assert answer["audiences"]


def test_behaviour_conditions_count_from_the_counters(api: Api) -> None:
    audience = {
        "id": "paywall-3",
        "name": "Hit the paywall 3 times this week",
        "condition": {
            "$event": {
                "name": "Paywall Viewed",
                "within": "7d",
                "where": {"section": {"$in": ["news", "sport"]}},
                "count": {"$gte": 3},
            }
        },
    }
    assert _post(api, "/v1/audiences", audience).status_code == 201
    spend = {
        "id": "spent-500-90d",
        "name": "Spent 500 in 90 days",
        "condition": {
            "$event": {
                "name": "Order Completed",
                "within": "90d",
                "sum": "revenue",
                "total": {"$gte": 500},
            }
        },
    }
    assert _post(api, "/v1/audiences", spend).status_code == 201
    sections = [("news", 1), ("sport", 2), ("news", 20), ("cooking", 1)]
    for n, (section, days) in enumerate(sections):
        api.send(
            "track",
            userId="reader",
            event="Paywall Viewed",
            timestamp=_at(days),
            properties={"section": section, "n": n},
        )
    assert "paywall-3" not in _audiences(api, "user_id", "reader")  # 2 this week in those
    api.send("track", userId="reader", event="Paywall Viewed", properties={"section": "sport"})
    found = _audiences(api, "user_id", "reader")
    assert "paywall-3" in found and "count 3" in found["paywall-3"]
    for n, (revenue, days) in enumerate(((300, 100), (300, 10), (150, 1))):
        api.send(
            "track",
            userId="reader",
            event="Order Completed",
            timestamp=_at(days),
            properties={"order_id": f"r{n}", "revenue": revenue},
        )
    assert "spent-500-90d" not in _audiences(api, "user_id", "reader")  # 450 in 90 days
    api.send(
        "track",
        userId="reader",
        event="Order Completed",
        properties={"order_id": "r9", "revenue": 50},
    )
    assert "spent-500-90d" in _audiences(api, "user_id", "reader")


def test_system_events_move_no_behaviour_counter_session_or_last_seen(api: Api) -> None:
    api.send("track", userId="sys", event="Product Viewed", timestamp=_at(3))
    before = api.profile("user_id", "sys")["computed"]
    for name in ("Audience Entered", "Recommendation Shown", "Experiment Viewed"):
        api.send("track", userId="sys", event=name, properties={"audience_id": "x"})
    after = api.profile("user_id", "sys")["computed"]
    assert after["last_seen"] == before["last_seen"]
    assert after["sessions"] == before["sessions"] == 1
    assert after["event_counts"] == {"Product Viewed": 1}
    audience = {
        "id": "entered",
        "name": "e",
        "condition": {"$event": {"name": "Audience Entered"}},
    }
    assert _post(api, "/v1/audiences", audience).status_code == 201
    assert "entered" not in _audiences(api, "user_id", "sys")


def test_accounts_count_only_when_the_shops_servers_said_so(api: Api) -> None:
    api.send("identify", userId="member", anonymousId="m-anon", traits={"email": "m@x.io"})
    api.send_browser("group", anonymousId="m-anon", groupId="acme", traits={"plan": "enterprise"})
    enterprise = {
        "id": "enterprise",
        "name": "Enterprise accounts",
        "condition": {"accounts": {"$elemMatch": {"traits.plan": "enterprise"}}},
    }
    assert _post(api, "/v1/audiences", enterprise).status_code == 201
    found = _audiences(api, "user_id", "member")
    assert "b2b-account-member" not in found and "enterprise" not in found  # only a claim
    api.send("group", userId="member", groupId="acme", traits={"plan": "enterprise"})
    found = _audiences(api, "user_id", "member")
    assert "b2b-account-member" in found and "enterprise" in found
    # A browser key reads no audiences at all.
    for path in ("/v1/audiences", "/v1/profiles/user_id/member/audiences"):
        assert api.client.get(path, headers=api.write_auth).status_code == 403


def test_preview_and_members_paged_and_as_csv(api: Api) -> None:
    api.batch(
        [
            {
                "type": "track",
                "event": "Order Completed",
                "userId": f"shopper-{n}",
                "properties": {"order_id": f"m{n}", "revenue": 10 * n},
            }
            for n in range(12)
        ]
        + [
            {"type": "identify", "userId": f"shopper-{n}", "traits": {"email": f"s{n}@x.io"}}
            for n in range(12)
        ]
    )
    api.settle()
    condition = {"computed.revenue": {"$gte": 50}, "traits.email": {"$regex": "@x\\.io$"}}
    preview = _post(api, "/v1/audiences/preview", {"condition": condition}).json()
    assert preview["count"] == 7 and preview["profiles"] == 12
    assert len(preview["sample"]) == 7 and preview["sample"][0]["user_id"].startswith("shopper-")
    assert _post(api, "/v1/audiences", {"id": "fifty", "name": "50+", "condition": condition})
    seen, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = api.get("/v1/audiences/fifty/members", **params)
        seen += [m["user_id"] for m in page["members"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(f"shopper-{n}" for n in range(5, 12))
    exported = api.client.get(
        "/v1/audiences/fifty/members", params={"format": "csv"}, headers=api.secret_auth
    )
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert sorted(r["email"] for r in rows) == sorted(f"s{n}@x.io" for n in range(5, 12))
    too_many = api.client.get(
        "/v1/audiences/fifty/members", params={"limit": 5000}, headers=api.secret_auth
    )
    assert too_many.status_code == 400
    assert (
        api.client.get("/v1/audiences/nobody/members", headers=api.secret_auth).status_code == 404
    )


def test_deleting_an_audience_a_rule_uses_is_refused_with_the_rules(api: Api) -> None:
    assert _post(
        api, "/v1/audiences", {"id": "vip", "name": "VIP", "condition": {"traits.vip": True}}
    )
    rule = {
        "id": "acme-for-vip",
        "kind": "boost",
        "factor": 2,
        "audience": "vip",
        "condition": {"field": "brand", "op": "eq", "value": "Acme"},
    }
    assert _post(api, "/v1/rules", rule).status_code == 201
    refused = api.client.delete("/v1/audiences/vip", headers=api.secret_auth)
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert error["code"] == "audience_in_use" and error["dependents"] == {"rules": ["acme-for-vip"]}
    assert api.client.delete("/v1/rules/acme-for-vip", headers=api.secret_auth).status_code == 200
    assert api.client.delete("/v1/audiences/vip", headers=api.secret_auth).status_code == 200


def test_a_rule_for_an_audience_applies_to_its_members(shop: Api) -> None:  # noqa: F811
    """Serving asks the audiences which ones the visitor is in (Audiences.audiences_of)."""
    vip = {"id": "vip", "name": "VIP", "condition": {"traits.vip": True}}
    assert _post(shop, "/v1/audiences", vip).status_code == 201
    rule = {"id": "vip-sale", "kind": "filter", "condition": ON_SALE, "audience": "vip"}
    assert _post(shop, "/v1/rules", rule).status_code == 201
    shop.send("identify", userId="u3", traits={"vip": True})
    shop.settle()
    member = _recommend(shop, strategy="trending", identity={"kind": "user_id", "value": "u3"})
    stranger = _recommend(shop, strategy="trending")
    assert set(_ids(member)) == {"cushion", "armchair"}  # only what is on sale
    assert "mug" in _ids(stranger)
    # The same answer as serving's: the member is in, an unknown visitor is not.
    profile_id = shop.profile("user_id", "u3")["profile_id"]
    assert "vip" in shop.services.audiences.audiences_of(shop.keys.workspace.id, profile_id)
    assert "vip" not in shop.services.audiences.audiences_of(shop.keys.workspace.id, None)


def test_conditions_read_the_scores_of_relevo_train(api: Api) -> None:
    """segment.*, propensity.* and clv.* as relevo train stored them (profile_scores), for one
    person and over the whole workspace; a person without scores reads null."""
    for n in range(4):
        api.send("identify", userId=f"scored-{n}", traits={"n": n})
    api.send("identify", userId="unscored")
    api.settle()
    ids = {n: api.profile("user_id", f"scored-{n}")["profile_id"] for n in range(4)}
    api.services.scores.replace(
        api.keys.workspace.id,
        [
            ProfileScore(
                ids[n],
                "v1",
                "seg-1" if n < 3 else "seg-2",
                "top value" if n < 3 else "low value",
                0.1 * (n + 1),
                0.5,
                100.0 * n,
                0,
            )
            for n in range(4)
        ],
    )
    condition = {"segment.id": "seg-1", "propensity.purchase_30d": {"$gte": 0.15}}
    preview = _post(api, "/v1/audiences/preview", {"condition": condition}).json()
    assert (preview["count"], preview["profiles"]) == (2, 5)  # scored-1 and scored-2
    assert _post(api, "/v1/audiences", {"id": "likely", "name": "Likely", "condition": condition})
    for n, expected in ((1, True), (3, False), (0, False)):
        mine = api.get(f"/v1/profiles/user_id/scored-{n}/audiences")["audiences"]
        assert ("likely" in {a["id"] for a in mine}) is expected, n
    nulls = {"segment.id": {"$exists": False}, "clv.next_12m": {"$exists": False}}
    assert _post(api, "/v1/audiences/preview", {"condition": nulls}).json()["count"] == 1
