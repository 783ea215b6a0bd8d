"""Trending per audience through HTTP on both backends: `{"strategy": "trending",
"audience": ...}` counts the interactions of an audience's members, saved or built in (as the
audience job recorded them), first, everyone's after; a browser key gets popularity, never
members, and nothing from an audience too small to hide its members; an unknown audience is
refused."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from rich.progress import Progress

from relevo.cli.recs import train_workspace
from relevo.recs.trending import MIN_MEMBERS_FOR_BROWSER
from tests.conftest import Api

CLUBS = {"outdoor": ["boots", "tent"], "kitchen": ["teapot", "whisk"]}


def _viewed(user: str, product: str) -> dict[str, Any]:
    return {
        "type": "track",
        "userId": user,
        "event": "Product Viewed",
        "properties": {"product_id": product},
    }


def _save(api: Api, audience_id: str, club: str) -> None:
    body = {"id": audience_id, "name": club, "condition": {"traits.club": club}}
    response = api.client.post("/v1/audiences", json=body, headers=api.secret_auth)
    assert response.status_code == 201, response.text


def _trending(api: Api, auth: dict[str, str] | None = None, **body: Any) -> Any:
    response = api.client.post(
        "/v1/recommendations",
        json={"strategy": "trending", "limit": 3, **body},
        headers=auth or api.secret_auth,
    )
    assert response.status_code == 200, response.text
    return response.json()


def _trained(api: Api) -> Api:
    """Trains the workspace and waits until the server serves that model."""
    with Progress(disable=True) as progress:
        version = train_workspace(api.services, api.keys.workspace, progress).version
    for _ in range(200):
        if _trending(api)["model_version"] == version:
            return api
        time.sleep(0.05)
    raise AssertionError("the server never loaded the trained model")


@pytest.fixture
def shop(api: Api) -> Api:
    """25 people in each club, each viewing their club's two products; 60 people in no club
    view bread, the most popular item overall; one person alone in a third club views a
    kite."""
    messages: list[dict[str, Any]] = []
    for club, products in CLUBS.items():
        for n in range(MIN_MEMBERS_FOR_BROWSER + 5):
            user = f"{club}-{n}"
            messages.append({"type": "identify", "userId": user, "traits": {"club": club}})
            messages += [_viewed(user, p) for p in products]
    messages += [_viewed(f"walker-{n}", "bread") for n in range(60)]
    messages += [
        {"type": "identify", "userId": "flyer", "traits": {"club": "kites"}},
        _viewed("flyer", "kite"),
    ]
    api.batch(messages)
    api.settle()
    for club in [*CLUBS, "kites"]:
        _save(api, club, club)
    api.services.audience_job.run_once()  # records the members
    return _trained(api)


def _ids(answer: Any) -> list[str]:
    return [i["product_id"] for i in answer["items"]]


def test_two_audiences_get_their_own_members_trending(shop: Api) -> None:
    assert _ids(_trending(shop))[0] == "bread"
    for club, products in CLUBS.items():
        answer = _trending(shop, audience=club)
        assert set(_ids(answer)[:2]) == set(products), answer
        # Then everyone's trending, for what no member touched.
        assert _ids(answer)[2] == "bread"
        assert [i["reason"] for i in answer["items"]] == [f"trending:{club}"] * 2 + ["trending"]
        assert answer["fallbacks"] == []
    assert _ids(_trending(shop, audience="outdoor")) != _ids(_trending(shop, audience="kitchen"))
    # A fallback to trending counts the audience too: a stranger's for_you ends there.
    stranger = _trending(shop, strategy="for_you", audience="kitchen", limit=2)
    assert set(_ids(stranger)) == set(CLUBS["kitchen"])
    small = _trending(shop, audience="kites", limit=2)
    assert _ids(small) == ["kite", "bread"]


def test_a_browser_key_sees_popularity_never_members(shop: Api) -> None:
    answer = _trending(shop, shop.write_auth, audience="outdoor")
    assert set(_ids(answer)[:2]) == set(CLUBS["outdoor"])
    text = json.dumps(answer)
    assert "outdoor-" not in text and "profile" not in text  # no member named or counted
    # One member alone: their popularity is what they did. The shop's key sees it, a page's
    # key gets everyone's trending and why.
    assert _ids(_trending(shop, audience="kites"))[0] == "kite"
    public = _trending(shop, shop.write_auth, audience="kites")
    assert "kite" not in _ids(public)[:1] and _ids(public)[0] == "bread"
    assert all(i["reason"] == "trending" for i in public["items"])
    assert f"fewer than {MIN_MEMBERS_FOR_BROWSER} members" in public["fallbacks"][0]["why"]


def test_an_unknown_audience_is_refused_saying_how(shop: Api) -> None:
    response = shop.client.post(
        "/v1/recommendations",
        json={"strategy": "trending", "audience": "no-such-audience"},
        headers=shop.secret_auth,
    )
    assert response.status_code == 400, response.text
    message = response.json()["error"]["message"]
    assert "no audience has id 'no-such-audience'" in message, message
    assert "GET /v1/audiences" in message, message


def _ordered(user: str, order_id: str, products: list[str]) -> dict[str, Any]:
    return {
        "type": "track",
        "userId": user,
        "event": "Order Completed",
        "properties": {
            "order_id": order_id,
            "total": 30,
            "products": [{"product_id": p, "price": 15} for p in products],
        },
    }


def _customers(api: Api) -> None:
    """25 repeat customers, two orders each of the outdoor club's products; 60 customers of
    one order of the kitchen's, so that more people bought those; 60 people who only view
    bread."""
    messages: list[dict[str, Any]] = []
    for n in range(MIN_MEMBERS_FOR_BROWSER + 5):
        messages += [_ordered(f"loyal-{n}", f"l{n}-{k}", CLUBS["outdoor"]) for k in (1, 2)]
    messages += [_ordered(f"once-{n}", f"o{n}", CLUBS["kitchen"]) for n in range(60)]
    messages += [_viewed(f"walker-{n}", "bread") for n in range(60)]
    api.batch(messages)
    api.settle()


def test_trending_among_a_built_in_audience_counts_its_members(api: Api) -> None:
    _customers(api)
    api.services.audience_job.run_once()  # records who is a repeat customer
    _trained(api)
    everyone = _ids(_trending(api, limit=5))
    assert everyone.index("teapot") < everyone.index("boots")  # more people bought it
    for auth in (api.secret_auth, api.write_auth):  # 25 members: a browser key sees it too
        answer = _trending(api, auth, audience="repeat-customer")
        assert set(_ids(answer)[:2]) == set(CLUBS["outdoor"]), answer
        reasons = [i["reason"] for i in answer["items"]]
        assert reasons == ["trending:repeat-customer"] * 2 + ["trending"]
        assert answer["fallbacks"] == []
    # Customers (one order or more) are mostly the kitchen's: their products come first.
    assert set(_ids(_trending(api, audience="customer"))[:2]) == set(CLUBS["kitchen"])


def test_a_built_in_audience_before_the_jobs_first_run_says_so(api: Api) -> None:
    """No members recorded yet (the job has not judged these people): everyone's trending,
    and why in the fallbacks, as for a saved audience."""
    _customers(api)
    _trained(api)
    answer = _trending(api, audience="repeat-customer")
    assert _ids(answer) == _ids(_trending(api))
    assert all(i["reason"] == "trending" for i in answer["items"])
    why = answer["fallbacks"][0]["why"]
    assert "no member of audience 'repeat-customer'" in why, answer


def test_an_erased_member_no_longer_counts(shop: Api) -> None:
    assert _ids(_trending(shop, audience="kites"))[0] == "kite"
    erased = shop.client.delete("/v1/profiles/user_id/flyer", headers=shop.secret_auth)
    assert erased.status_code == 200, erased.text
    answer = _trending(shop, audience="kites")
    assert "kite" not in _ids(answer)
    assert "no member" in answer["fallbacks"][0]["why"]
