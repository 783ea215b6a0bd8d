"""Merchandising rules through HTTP on both backends: saved and validated by /v1/rules, then
applied by /v1/recommendations after the recommenders, across the fallback chain, over the live
catalog (a price change or a new product is seen by the next requests), with the rules each
item was touched by, the debug trace (secret key only), scope, re-rank and audiences."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import Api
from tests.test_recs_api import _recommend, _shop_history, _train

# The shop of tests/test_recs_api.py with a catalog: brands, prices, sales.
CATALOG = [
    {"product_id": "sofa", "title": "Sofa", "brand": "Lounge", "price": "900.00",
     "category": "Home > Living"},
    {"product_id": "cushion", "title": "Cushion", "brand": "Soft", "price": "20.00",
     "sale_price": "15.00", "category": "Home > Living"},
    {"product_id": "mug", "title": "Mug", "brand": "Soft", "price": "8.00",
     "category": "Home > Kitchen", "attributes": {"margin": 0.6}},
    {"product_id": "armchair", "title": "Armchair", "brand": "Lounge", "price": "400.00",
     "sale_price": "350.00", "category": "Home > Living"},
    {"product_id": "plate", "title": "Plate", "brand": "Soft", "price": "5.00",
     "category": "Home > Kitchen"},
]  # fmt: skip
ON_SALE = {"field": "on_sale", "op": "eq", "value": True}


@pytest.fixture
def shop(api: Api) -> Api:
    api.batch(_shop_history())
    api.settle()
    _upsert(api, CATALOG)
    _train(api)
    return api


def _upsert(api: Api, products: list[dict[str, Any]]) -> None:
    response = api.client.post(
        "/v1/catalog/products", json={"products": products}, headers=api.secret_auth
    )
    assert response.json()["stored"] == len(products), response.text


def _save(api: Api, rule: dict[str, Any]) -> Any:
    response = api.client.post("/v1/rules", json=rule, headers=api.secret_auth)
    assert response.status_code == 201, response.text
    return response.json()


def _ids(answer: Any) -> list[str]:
    return [i["product_id"] for i in answer["items"]]


def _eventually(ask: Callable[[], Any], holds: Callable[[Any], bool]) -> Any:
    """Rules and catalog changes reach a server within its check interval (0.05 s here)."""
    deadline = time.monotonic() + 5
    while True:
        answer = ask()
        if holds(answer):
            return answer
        assert time.monotonic() < deadline, f"never held: {answer}"
        time.sleep(0.02)


def test_rules_are_created_listed_read_replaced_and_deleted(api: Api) -> None:
    saved = _save(api, {"id": "sale-only", "kind": "filter", "condition": ON_SALE})
    assert saved["mode"] == "include" and saved["priority"] == 0  # stored as validated
    duplicate = api.client.post(
        "/v1/rules",
        json={"id": "sale-only", "kind": "filter", "condition": ON_SALE},
        headers=api.secret_auth,
    )
    assert duplicate.status_code == 409
    assert [r["id"] for r in api.get("/v1/rules")["rules"]] == ["sale-only"]
    replaced = api.client.put(
        "/v1/rules/sale-only",
        json={"kind": "bury", "factor": 2, "condition": ON_SALE, "priority": 5},
        headers=api.secret_auth,
    )
    assert replaced.status_code == 200, replaced.text
    assert api.get("/v1/rules/sale-only")["kind"] == "bury"
    assert api.get("/v1/rules/sale-only")["priority"] == 5
    clash = api.client.put(
        "/v1/rules/sale-only",
        json={"id": "other", "kind": "bury", "factor": 2, "condition": ON_SALE},
        headers=api.secret_auth,
    )
    assert clash.status_code == 400 and "id" in clash.json()["error"]["message"]
    assert api.client.delete("/v1/rules/sale-only", headers=api.secret_auth).status_code == 200
    for method in ("get", "delete"):
        gone = getattr(api.client, method)("/v1/rules/sale-only", headers=api.secret_auth)
        assert gone.status_code == 404
    missing = api.client.put(
        "/v1/rules/nope",
        json={"kind": "bury", "factor": 2, "condition": ON_SALE},
        headers=api.secret_auth,
    )
    assert missing.status_code == 404


@pytest.mark.parametrize(
    ("rule", "where"),
    [
        (
            {
                "id": "x",
                "kind": "filter",
                "condition": {"field": "price", "op": "lte", "value": "x"},
            },
            "condition: price lte: value",
        ),
        ({"id": "x", "kind": "magic"}, "kind"),
        ({"id": "x", "kind": "boost", "factor": 0.5, "condition": ON_SALE}, "factor"),
        (
            {
                "id": "x",
                "kind": "filter",
                "condition": ON_SALE,
                "scope": {"strategies": ["nonsense"]},
            },
            "scope.strategies",
        ),
        ({"id": "x", "kind": "pin", "slot": 1}, "product_id or condition"),
        ({"id": "bad id!", "kind": "filter", "condition": ON_SALE}, "id"),
        (
            {
                "id": "x",
                "kind": "filter",
                "condition": ON_SALE,
                "schedule": {
                    "starts_at": "2026-01-02T00:00:00Z",
                    "ends_at": "2026-01-01T00:00:00Z",
                },
            },
            "schedule",
        ),
    ],
)
def test_a_refused_rule_is_a_400_naming_the_part(api: Api, rule: Any, where: str) -> None:
    response = api.client.post("/v1/rules", json=rule, headers=api.secret_auth)
    assert response.status_code == 400, response.text
    assert where in response.json()["error"]["message"]
    assert api.get("/v1/rules")["rules"] == []


def test_rules_need_the_secret_key(api: Api) -> None:
    rule = {"id": "sale-only", "kind": "filter", "condition": ON_SALE}
    for headers in (api.write_auth, api.server_auth):
        assert api.client.post("/v1/rules", json=rule, headers=headers).status_code == 403
        assert api.client.get("/v1/rules", headers=headers).status_code == 403
    assert api.client.get("/v1/rules").status_code == 401


def test_a_filter_holds_across_the_fallback_chain(shop: Api) -> None:
    body = {"strategy": "bought_together", "context": {"product_id": "sofa"}, "limit": 10}
    before = _recommend(shop, **body)
    assert {"mug", "plate"} <= set(_ids(before))
    assert all(i["rules"] == [] for i in before["items"])
    _save(shop, {"id": "sale-only", "kind": "filter", "condition": ON_SALE})
    answer = _recommend(shop, **body)
    # Only the two products on sale, although the fallbacks had more to give.
    assert sorted(_ids(answer)) == ["armchair", "cushion"]
    assert all(i["rules"] == ["sale-only"] for i in answer["items"])
    assert len({i["strategy"] for i in answer["items"]}) >= 1


def test_a_price_change_and_a_new_product_are_seen_without_retraining(shop: Api) -> None:
    _save(shop, {"id": "sale-only", "kind": "filter", "condition": ON_SALE})
    _save(shop, {"id": "hero", "kind": "pin", "slot": 1, "product_id": "lamp"})
    body = {"strategy": "trending", "limit": 5, "debug": True}
    answer = _recommend(shop, **body)
    assert "mug" not in _ids(answer)
    hero = next(r for r in answer["rules"] if r["rule"] == "hero")
    assert hero["status"] == "skipped" and "not in the catalog" in hero["why"]
    # The mug goes on sale; a lamp is added after training.
    _upsert(
        shop,
        [
            {**CATALOG[2], "sale_price": "6.00"},
            {"product_id": "lamp", "title": "Lamp", "price": "50", "sale_price": "40"},
        ],
    )
    answer = _eventually(lambda: _recommend(shop, **body), lambda a: "lamp" in _ids(a))
    answer = _eventually(lambda: _recommend(shop, **body), lambda a: "mug" in _ids(a))
    assert _ids(answer)[0] == "lamp"
    assert answer["items"][0]["reason"] == "pinned:hero"
    assert answer["items"][0]["rules"] == ["sale-only", "hero"]
    assert "lamp" not in answer["unknown_products"]


def test_boosts_caps_and_the_debug_trace(shop: Api) -> None:
    body = {"strategy": "trending", "limit": 3, "debug": True}
    _save(
        shop,
        {"id": "max-1-per-brand", "kind": "diversity", "attribute": "brand", "max_per_value": 1},
    )
    _save(
        shop,
        {
            "id": "margin",
            "kind": "boost",
            "factor": 1000,
            "condition": {"field": "attributes.margin", "op": "gte", "value": 0.5},
        },
    )
    _save(
        shop,
        {
            "id": "later",
            "kind": "filter",
            "condition": ON_SALE,
            "schedule": {"starts_at": "2999-01-01T00:00:00Z"},
        },
    )
    _save(
        shop,
        {
            "id": "home-only",
            "kind": "filter",
            "condition": ON_SALE,
            "scope": {"placements": ["home"]},
        },
    )
    answer = _recommend(shop, **body)
    ids = _ids(answer)
    assert ids[0] == "mug" and answer["items"][0]["rules"] == ["margin", "max-1-per-brand"]
    brands = {
        "sofa": "Lounge",
        "armchair": "Lounge",
        "mug": "Soft",
        "cushion": "Soft",
        "plate": "Soft",
    }
    assert len(ids) == 2 and len({brands[i] for i in ids}) == 2  # one per brand, two brands
    trace = {r["rule"]: r for r in answer["rules"]}
    assert trace["margin"]["status"] == "applied" and "*1000" in trace["margin"]["why"]
    assert trace["max-1-per-brand"]["status"] == "applied"
    assert "held back" in trace["max-1-per-brand"]["why"]
    assert trace["later"]["status"] == "skipped" and "schedule" in trace["later"]["why"]
    assert "placement" in trace["home-only"]["why"]
    home = _recommend(shop, **body, context={"placement": "home"})
    assert set(_ids(home)) <= {"cushion", "armchair"}
    plain = _recommend(shop, strategy="trending", limit=3)
    assert "rules" not in plain


def test_debug_is_for_the_secret_key(shop: Api) -> None:
    response = shop.client.post(
        "/v1/recommendations",
        json={
            "strategy": "trending",
            "identity": {"kind": "anonymous_id", "value": "a1"},
            "debug": True,
        },
        headers=shop.write_auth,
    )
    assert response.status_code == 403
    assert "secret key" in response.json()["error"]["message"]


def test_rerank_obeys_the_rules(shop: Api) -> None:
    _save(
        shop,
        {
            "id": "no-lounge",
            "kind": "filter",
            "mode": "exclude",
            "condition": {"field": "brand", "op": "eq", "value": "lounge"},
        },
    )
    answer = _recommend(
        shop,
        strategy="rerank",
        identity={"kind": "user_id", "value": "u3"},
        context={"candidates": ["plate", "sofa", "unknown-x", "armchair", "mug"]},
    )
    assert sorted(_ids(answer)) == ["mug", "plate"]
    assert answer["unknown_products"] == ["unknown-x"]


def test_a_rule_for_an_audience_waits_for_its_members(shop: Api) -> None:
    _save(shop, {"id": "vip-sale", "kind": "filter", "condition": ON_SALE, "audience": "vip"})
    _save(shop, {"id": "other", "kind": "bury", "factor": 2, "condition": ON_SALE})
    answer = _recommend(
        shop, strategy="trending", debug=True, identity={"kind": "user_id", "value": "u3"}
    )
    trace = {r["rule"]: r for r in answer["rules"]}
    assert "audience not matched" in trace["vip-sale"]["why"]
    assert "mug" in _ids(answer)
    store = shop.services.merchandising
    assert store.rules_using_audience(shop.keys.workspace.id, "vip") == ["vip-sale"]
    assert store.rules_using_audience(shop.keys.workspace.id, "other") == []
    recs = shop.services.recommendations
    wired = recs.audiences

    class Vip:
        def audiences_of(self, workspace_id: int, profile_id: int | None) -> frozenset[str]:
            return frozenset({"vip"}) if profile_id is not None else frozenset()

    recs.audiences = Vip()
    try:
        member = _recommend(shop, strategy="trending", identity={"kind": "user_id", "value": "u3"})
        stranger = _recommend(shop, strategy="trending")
    finally:
        recs.audiences = wired
    assert set(_ids(member)) == {"cushion", "armchair"}
    assert "mug" in _ids(stranger)
