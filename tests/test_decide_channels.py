"""Decisions with recommendation blocks, through HTTP on both backends, over a trained shop: a
receipt block for a customer found by e-mail or loyalty card (secret key, HTML rendered
server-side), a store screen by phone, recommendation slots with product cards and the
placement's own rules, and a quiz whose answers filter the block at once and at the next
decision."""

from __future__ import annotations

import time
from typing import Any

import pytest
from rich.progress import Progress

from relevo.cli.recs import train_workspace
from tests.conftest import Api

KITCHEN = ["pan", "knife", "kettle", "mug"]
LIVING = ["sofa", "cushion", "lamp"]
PRODUCTS = [
    {"product_id": p, "title": p.title(), "brand": "Acme" if p in ("pan", "sofa") else "Home",
     "category": ["Kitchen" if p in KITCHEN else "Living"], "price": "10.00",
     "url": f"https://shop.example/p/{p}"}
    for p in KITCHEN + LIVING
]  # fmt: skip


def _order(user: str, number: int, products: list[str]) -> dict[str, Any]:
    return {
        "type": "track",
        "userId": user,
        "event": "Order Completed",
        "timestamp": f"2026-11-{1 + number % 25:02d}T10:00:00Z",
        "properties": {"order_id": f"{user}-{number}",
                       "products": [{"product_id": p} for p in products]},
    }  # fmt: skip


def post(api: Api, path: str, body: Any, auth: dict[str, str] | None = None) -> Any:
    response = api.client.post(path, json=body, headers=api.secret_auth if auth is None else auth)
    assert response.status_code in (200, 201), response.text
    return response.json()


@pytest.fixture
def trained(api: Api) -> Api:
    post(api, "/v1/catalog/products", {"products": PRODUCTS})
    history = []
    for n in range(30):
        history.append(_order(f"u{n}", n, [KITCHEN[n % 4], LIVING[n % 3]]))
        history.append(_order(f"u{n}", n + 1, [KITCHEN[(n + 1) % 4]]))
    api.batch(history)
    api.send(
        "identify",
        userId="ann",
        traits={"email": "ann@example.com", "phone": "+44 20 7946 0000"},
        context={
            "externalIds": [
                {"type": "loyalty_card", "id": "LC-123", "collection": "users", "encoding": "none"}
            ]
        },
    )
    api.send(
        "track",
        userId="ann",
        event="Order Completed",
        properties={"order_id": "ann-1", "products": [{"product_id": "pan"}]},
    )
    api.settle()
    with Progress(disable=True) as progress:
        train_workspace(api.services, api.keys.workspace, progress)
    _wait_for_model(api)
    return api


def _wait_for_model(api: Api) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if api.services.recommendations.bundles.get(api.keys.workspace.id) is not None:
            return
        time.sleep(0.05)
    raise AssertionError("the trained model was never loaded")


def placement(api: Api, **body: Any) -> None:
    post(api, "/v1/placements", body)


def experience(api: Api, **body: Any) -> None:
    post(api, "/v1/experiences", {"name": body["id"], **body})


def test_a_receipt_block_for_a_customer_found_by_e_mail_or_loyalty_card(trained: Api) -> None:
    placement(trained, id="receipt-recs", kind="receipt", channel="receipt")
    experience(
        trained,
        id="receipt-picks",
        placement="receipt-recs",
        variants=[
            {
                "id": "a",
                "content": {"headline": "You may also like"},
                "recommendations": {"strategy": "trending", "count": 3},
            }
        ],
    )
    for identity in (
        {"kind": "email", "value": "ANN@example.com"},
        {"kind": "loyalty_card", "value": "LC-123"},
    ):
        answer = post(
            trained,
            "/v1/decide",
            {"identity": identity, "channel": "receipt", "placements": ["receipt-recs"]},
        )
        block = answer["placements"]["receipt-recs"]
        assert block["source"] == "experience", answer
        items = block["recommendations"]["items"]
        assert len(items) == 3 and all(i["product"]["title"] for i in items)
        html = block["html"]
        assert html.startswith('<div class="relevo-block relevo-receipt-recs">')
        assert "<h3>You may also like</h3>" in html
        for item in items:
            assert f'<a href="https://shop.example/p/{item["product_id"]}">' in html
    trained.settle()
    viewed = [
        e["message"]["properties"]
        for e in trained.get("/v1/profiles/user_id/ann/events")["events"]
        if e["event"] == "Experience Viewed"
    ]
    assert len(viewed) == 2 and {v["channel"] for v in viewed} == {"receipt"}
    # A web decision cannot ask for the receipt's placement, nor a browser key for the channel.
    web = post(
        trained,
        "/v1/decide",
        {"identity": {"kind": "email", "value": "ann@example.com"}, "placements": ["receipt-recs"]},
    )
    assert web["errors"][0]["code"] == "wrong_channel"


def test_a_store_screen_by_phone_gets_its_placements_default_block(trained: Api) -> None:
    placement(
        trained,
        id="store-screen",
        kind="inline",
        channel="store",
        recommendations={"strategy": "trending", "count": 2},
    )
    answer = post(
        trained,
        "/v1/decide",
        {
            "identity": {"kind": "phone", "value": "+442079460000"},
            "channel": "store",
            "placements": ["store-screen"],
        },
    )
    screen = answer["placements"]["store-screen"]
    assert screen["source"] == "default"
    assert len(screen["recommendations"]["items"]) == 2
    assert screen["html"] is None  # a store screen renders its cards itself


def test_recommendation_slots_get_cards_and_the_placements_rules(trained: Api) -> None:
    placement(
        trained,
        id="pdp-similar",
        kind="recommendations",
        recommendations={"strategy": "trending", "count": 4},
    )
    placement(
        trained,
        id="pdp-together",
        kind="recommendations",
        recommendations={"strategy": "trending", "count": 2},
    )
    post(
        trained,
        "/v1/rules",
        {
            "id": "no-acme-here",
            "kind": "filter",
            "mode": "exclude",
            "scope": {"placements": ["pdp-similar"]},
            "condition": {"field": "brand", "op": "eq", "value": "Acme"},
        },
    )
    deadline = time.monotonic() + 5
    while True:
        answer = post(
            trained,
            "/v1/decide",
            {
                "anonymousId": "browser-1",
                "debug": True,
                "placements": ["pdp-similar", "pdp-together"],
            },
        )
        similar = answer["placements"]["pdp-similar"]["recommendations"]["items"]
        if all(i["product"]["brand"] != "Acme" for i in similar) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert similar and all(i["product"]["brand"] != "Acme" for i in similar)
    together = answer["placements"]["pdp-together"]["recommendations"]["items"]
    assert len(together) == 2 and all(i["reason"] for i in together)
    rules = answer["debug"]["placements"]["pdp-similar"]["recommendations"]["rules"]
    applied = {r["rule"]: r["status"] for r in rules}
    assert applied["no-acme-here"] == "applied"
    other = answer["debug"]["placements"]["pdp-together"]["recommendations"]["rules"]
    assert {r["rule"]: r["status"] for r in other}["no-acme-here"] == "skipped"  # scoped away


def test_a_quiz_answer_filters_its_block_at_once_and_at_the_next_decision(trained: Api) -> None:
    placement(trained, id="finder", kind="inline", selector="#finder")
    kitchen = {"value": "kitchen", "label": "Kitchen", "filter": {"category": "Kitchen"}}
    living = {"value": "living", "label": "Living room", "filter": {"category": "Living"},
              "boost": {"brand": "Acme"}}  # fmt: skip
    quiz = {
        "kind": "quiz",
        "questions": [{"id": "room", "text": "Which room?", "answers": [kitchen, living]}],
        "recommendations": {"strategy": "trending", "count": 3},
    }
    experience(
        trained, id="room-finder", placement="finder", variants=[{"id": "a", "interactive": quiz}]
    )
    first = post(
        trained,
        "/v1/decide",
        {"anonymousId": "quizzer", "placements": ["finder"]},
        trained.write_auth,
    )["placements"]["finder"]
    assert first["interactive"]["kind"] == "quiz" and first["recommendations"] is None
    submit = {
        "anonymousId": "quizzer",
        "events": [
            {
                "token": first["token"],
                "type": "submit",
                "properties": {"answers": {"room": "living"}},
            }
        ],
    }
    answer = post(trained, "/v1/decide/events", submit, trained.write_auth)
    assert answer["accepted"] == 1
    items = answer["recommendations"]["items"]
    assert items and {i["product"]["category"][0] for i in items} == {"Living"}
    assert items[0]["product_id"] == "sofa"  # the Acme boost
    trained.settle()
    assert trained.profile("anonymous_id", "quizzer")["preferences"] == {"room": "living"}
    again = post(
        trained,
        "/v1/decide",
        {"anonymousId": "quizzer", "placements": ["finder"]},
        trained.write_auth,
    )["placements"]["finder"]
    shown = again["recommendations"]["items"]
    assert {i["product"]["category"][0] for i in shown} == {"Living"}
    wrong = {
        "anonymousId": "quizzer",
        "events": [
            {
                "token": again["token"],
                "type": "submit",
                "properties": {"answers": {"room": "attic"}},
            }
        ],
    }
    refused = post(trained, "/v1/decide/events", wrong, trained.write_auth)
    assert refused["refused"] == [{"index": 0, "reason": "invalid_submit"}]


def test_a_cards_price_change_shows_in_the_next_decisions(trained: Api) -> None:
    """Cards are cached per process; a change made through the catalog API is seen within
    the cache's check interval (models_check_seconds: 0.05 s in tests)."""
    placement(
        trained,
        id="pdp-similar",
        kind="recommendations",
        recommendations={"strategy": "trending", "count": 7},
    )
    ask = {"anonymousId": "browser-2", "placements": ["pdp-similar"]}

    def prices() -> dict[str, str]:
        items = post(trained, "/v1/decide", ask)["placements"]["pdp-similar"]["recommendations"]
        return {i["product_id"]: i["product"]["price"] for i in items["items"]}

    before = prices()
    assert before and set(before.values()) == {"10.00"}
    changed = next(iter(before))
    card = next(p for p in PRODUCTS if p["product_id"] == changed)
    post(trained, "/v1/catalog/products", {"products": [{**card, "price": "12.50"}]})
    deadline = time.monotonic() + 5
    while (after := prices())[changed] != "12.50" and time.monotonic() < deadline:
        time.sleep(0.02)
    assert after[changed] == "12.50"
    assert {p: v for p, v in after.items() if p != changed} == {
        p: v for p, v in before.items() if p != changed and p in after
    }
