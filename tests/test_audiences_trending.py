"""Trending per audience through HTTP on both backends: `{"strategy": "trending",
"audience": ...}` counts the interactions of a saved audience's members (as the audience job
recorded them) first, everyone's after; a browser key gets popularity, never members, and
nothing from an audience too small to hide its members; built-in audiences are refused with
the way to get the same."""

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
    with Progress(disable=True) as progress:
        version = train_workspace(api.services, api.keys.workspace, progress).version
    for _ in range(200):
        if _trending(api)["model_version"] == version:
            return api
        time.sleep(0.05)
    raise AssertionError("the server never loaded the trained model")


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


def test_built_in_and_unknown_audiences_are_refused_saying_how(shop: Api) -> None:
    for audience, words in [
        ("repeat-customer", ["built in", "POST /v1/audiences"]),
        ("no-such-audience", ["no saved audience"]),
    ]:
        response = shop.client.post(
            "/v1/recommendations",
            json={"strategy": "trending", "audience": audience},
            headers=shop.secret_auth,
        )
        assert response.status_code == 400, response.text
        message = response.json()["error"]["message"]
        assert all(w in message for w in words), message


def test_an_erased_member_no_longer_counts(shop: Api) -> None:
    assert _ids(_trending(shop, audience="kites"))[0] == "kite"
    erased = shop.client.delete("/v1/profiles/user_id/flyer", headers=shop.secret_auth)
    assert erased.status_code == 200, erased.text
    answer = _trending(shop, audience="kites")
    assert "kite" not in _ids(answer)
    assert "no member" in answer["fallbacks"][0]["why"]
