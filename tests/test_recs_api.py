"""POST /v1/recommendations through HTTP on both backends: a shop's events, `relevo train`,
then strategies, fallbacks, exclusions, the visitor's latest events, keys, feedback and the
swap to a new model version."""

from __future__ import annotations

import time
from typing import Any

import pytest
from rich.progress import Progress

from relevo.cli.recs import train_workspace
from relevo.recs.strategies import STRATEGIES
from tests.conftest import Api


def _order(user: str, order: str, products: list[str], day: int) -> dict[str, Any]:
    return {
        "type": "track",
        "userId": user,
        "event": "Order Completed",
        "timestamp": f"2026-0{1 + day // 28}-{1 + day % 28:02d}T10:00:00Z",
        "properties": {"order_id": order, "products": [{"product_id": p} for p in products]},
    }


def _shop_history() -> list[dict[str, Any]]:
    """Sofas are bought with cushions; people who bought a sofa come back for an armchair;
    mugs are everyone's filler."""
    messages = []
    for n in range(30):
        user = f"u{n}"
        messages.append(_order(user, f"{user}-1", ["sofa", "cushion", "mug"], day=n % 20))
        messages.append(_order(user, f"{user}-2", ["armchair"], day=n % 20 + 25))
    for n in range(30, 40):
        messages.append(_order(f"u{n}", f"u{n}-1", ["mug", "plate"], day=n % 20))
    return messages


def _train(api: Api) -> str:
    with Progress(disable=True) as progress:
        return train_workspace(api.services, api.keys.workspace, progress).version


def _recommend(api: Api, auth: dict[str, str] | None = None, **body: Any) -> Any:
    response = api.client.post(
        "/v1/recommendations", json=body, headers=auth if auth is not None else api.secret_auth
    )
    assert response.status_code == 200, response.text
    return response.json()


def _wait_for_version(api: Api, version: str, **body: Any) -> Any:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        answer = _recommend(api, **body)
        if answer["model_version"] == version:
            return answer
        time.sleep(0.05)
    raise AssertionError(f"the server never swapped to {version}")


@pytest.fixture
def trained(api: Api) -> Api:
    api.batch(_shop_history())
    api.settle()
    _train(api)
    return api


def test_unknown_strategy_is_a_400_naming_the_available_ones(api: Api) -> None:
    response = api.client.post(
        "/v1/recommendations", json={"strategy": "magic"}, headers=api.secret_auth
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "unknown_strategy"
    for name in STRATEGIES:
        assert name in error["message"]


def test_before_training_the_answer_is_empty_and_says_why(api: Api) -> None:
    answer = _recommend(api, strategy="trending")
    assert answer["items"] == [] and answer["model_version"] is None
    assert "relevo train" in answer["fallbacks"][0]["why"]
    assert answer["recommendation_id"].startswith("rec_")


def test_bought_together_and_after_with_reasons(trained: Api) -> None:
    answer = _recommend(trained, strategy="bought_together", context={"product_id": "sofa"})
    ids = [i["product_id"] for i in answer["items"]]
    assert ids[0] == "cushion"
    assert "sofa" not in ids  # the product in view is excluded
    assert answer["items"][0]["reason"] == "bought_together:sofa"

    after = _recommend(trained, strategy="bought_after", context={"product_id": "sofa"})
    assert after["items"][0]["product_id"] == "armchair"
    assert after["items"][0]["reason"] == "bought_after:sofa"


def test_details_add_the_catalog_card_of_each_item(trained: Api) -> None:
    upsert = trained.client.post(
        "/v1/catalog/products",
        json={
            "products": [
                {
                    "product_id": "cushion",
                    "title": "Velvet cushion",
                    "price": "19.00 EUR",
                    "image_url": "https://shop.example/c.jpg",
                }
            ]
        },
        headers=trained.secret_auth,
    )
    assert upsert.json()["stored"] == 1, upsert.text
    context = {"product_id": "sofa"}
    plain = _recommend(trained, strategy="bought_together", context=context)
    assert "product" not in plain["items"][0]
    answer = _recommend(trained, strategy="bought_together", context=context, details=True)
    card = answer["items"][0]["product"]
    assert answer["items"][0]["product_id"] == "cushion"
    assert card["title"] == "Velvet cushion" and card["price"] == "19.00"
    assert card["currency"] == "EUR" and card["image_url"] == "https://shop.example/c.jpg"
    assert "description" not in card
    deleted = trained.client.post(
        "/v1/catalog/products/delete",
        json={"product_ids": ["cushion"]},
        headers=trained.secret_auth,
    )
    assert deleted.status_code == 200, deleted.text
    # A deleted product leaves the answers once the server has seen the catalog change (it
    # looks every `models_check_seconds`); until then its card is null, never stale.
    deadline = time.monotonic() + 5
    while True:
        gone = _recommend(trained, strategy="bought_together", context=context, details=True)
        cards = {i["product_id"]: i["product"] for i in gone["items"]}
        assert cards.get("cushion") is None
        if "cushion" not in cards:
            break
        assert time.monotonic() < deadline, "a deleted product is still recommended"
        time.sleep(0.02)
    assert cards["mug"] is not None  # products known only from events have a (bare) card


def test_cart_items_are_excluded_and_the_chain_fills_the_list(trained: Api) -> None:
    answer = _recommend(
        trained,
        strategy="bought_together",
        context={"product_id": "sofa", "cart": ["cushion"]},
        limit=4,
    )
    ids = [i["product_id"] for i in answer["items"]]
    assert "cushion" not in ids and "sofa" not in ids
    assert len(ids) == len(set(ids)) == 3  # mug, armchair, plate: the catalog minus exclusions
    assert {i["strategy"] for i in answer["items"]} - {"bought_together"}  # filled by fallbacks
    assert any(f["strategy"] == "bought_together" for f in answer["fallbacks"])


def test_unknown_product_and_visitor_fall_back_and_say_so(trained: Api) -> None:
    answer = _recommend(
        trained,
        strategy="bought_together",
        identity={"kind": "anonymous_id", "value": "never-seen"},
        context={"product_id": "no-such-product"},
    )
    assert answer["unknown_products"] == ["no-such-product"]
    assert answer["known_visitor"] is False
    assert answer["items"] and answer["items"][0]["strategy"] == "trending"
    whys = {f["strategy"]: f["why"] for f in answer["fallbacks"]}
    assert "product in view" in whys["bought_together"]


def test_the_latest_events_shape_the_answer_without_retraining(trained: Api) -> None:
    trained.batch(
        [
            {
                "type": "track",
                "anonymousId": "fresh",
                "event": "Product Viewed",
                "properties": {"product_id": p},
            }
            for p in ("plate", "sofa")
        ]
    )  # acknowledged: committed, so the very next request sees it
    answer = _recommend(
        trained, strategy="recently_viewed", identity={"kind": "anonymous_id", "value": "fresh"}
    )
    assert [i["product_id"] for i in answer["items"][:2]] == ["sofa", "plate"]
    assert answer["known_visitor"] is True


def test_for_you_leaves_out_what_was_just_bought_unless_it_is_rebought(trained: Api) -> None:
    before = _recommend(trained, strategy="for_you", identity={"kind": "user_id", "value": "u3"})
    assert "plate" in [i["product_id"] for i in before["items"]]
    trained.batch(
        [
            {
                "type": "track",
                "userId": "u3",
                "event": "Order Completed",
                "properties": {"order_id": "now", "products": [{"product_id": "plate"}]},
            }
        ]
    )
    after = _recommend(trained, strategy="for_you", identity={"kind": "user_id", "value": "u3"})
    ids = [i["product_id"] for i in after["items"]]
    assert ids and "plate" not in ids  # just bought, and nobody buys plates twice


def test_rerank_orders_every_candidate(trained: Api) -> None:
    candidates = ["plate", "unknown-x", "armchair", "mug"]
    answer = _recommend(
        trained,
        strategy="rerank",
        identity={"kind": "user_id", "value": "u1"},
        context={"candidates": candidates},
    )
    ids = [i["product_id"] for i in answer["items"]]
    assert sorted(ids) == sorted(candidates)
    assert ids[-1] == "unknown-x"


def test_the_write_key_may_only_ask_for_its_own_visitor(trained: Api) -> None:
    ok = _recommend(
        trained,
        auth=trained.write_auth,
        strategy="trending",
        identity={"kind": "anonymous_id", "value": "me"},
    )
    assert ok["items"]
    response = trained.client.post(
        "/v1/recommendations",
        json={"strategy": "for_you", "identity": {"kind": "email", "value": "a@b.example"}},
        headers=trained.write_auth,
    )
    assert response.status_code == 403
    assert "secret key" in response.json()["error"]["message"]


def test_feedback_is_stored_as_events_once(trained: Api) -> None:
    answer = _recommend(trained, strategy="trending")
    rec_id = answer["recommendation_id"]
    body = {
        "identity": {"kind": "anonymous_id", "value": "v-feedback"},
        "shown": [i["product_id"] for i in answer["items"]],
        "clicked": [answer["items"][0]["product_id"]],
    }
    first = trained.client.post(
        f"/v1/recommendations/{rec_id}/feedback", json=body, headers=trained.write_auth
    )
    assert first.status_code == 200 and first.json()["stored"] == 2
    again = trained.client.post(
        f"/v1/recommendations/{rec_id}/feedback", json=body, headers=trained.write_auth
    )
    assert again.json()["duplicates"] == 2
    events = trained.get("/v1/profiles/anonymous_id/v-feedback/events")["events"]
    names = sorted(e["event"] for e in events)
    assert names == ["Recommendation Clicked", "Recommendation Shown"]
    shown = next(e for e in events if e["event"] == "Recommendation Shown")
    assert shown["message"]["properties"]["recommendation_id"] == rec_id

    empty = trained.client.post(
        f"/v1/recommendations/{rec_id}/feedback",
        json={"identity": body["identity"]},
        headers=trained.write_auth,
    )
    assert empty.status_code == 400


def test_a_new_model_version_is_served_without_a_restart(trained: Api) -> None:
    first = _recommend(trained, strategy="trending")["model_version"]
    trained.batch([_order("late", "late-1", ["lamp"] * 1, day=40)])
    trained.settle()
    second = _train(trained)
    assert second != first
    answer = _wait_for_version(trained, second, strategy="trending", limit=20)
    assert "lamp" in [i["product_id"] for i in answer["items"]]
