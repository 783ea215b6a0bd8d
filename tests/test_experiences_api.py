"""Placements and experiences through HTTP on both backends: saved with the secret key,
validated when saved (a 400 names the offending part), listed, replaced, deleted (refused
while something depends on them), and audiences they use cannot be deleted from under them."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import Api

HERO = {"id": "home-hero", "name": "Home hero", "kind": "banner", "selector": "#hero",
        "default": {"content": {"headline": "Welcome"}}}  # fmt: skip
SIMILAR = {"id": "pdp-similar", "kind": "recommendations",
           "recommendations": {"strategy": "similar", "count": 4}}  # fmt: skip


def offer(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "loyalty",
        "name": "Loyalty offer",
        "placement": "home-hero",
        "audience": "repeat-customer",
        "priority": 5,
        "variants": [{"id": "a", "content": {"headline": "10% off"},
                      "template": "<h2>{{ content.headline }}</h2>"}],
    }  # fmt: skip
    body.update(changes)
    return body


def post(api: Api, path: str, body: Any) -> Any:
    return api.client.post(path, json=body, headers=api.secret_auth)


@pytest.fixture
def placed(api: Api) -> Api:
    for placement in (HERO, SIMILAR):
        assert post(api, "/v1/placements", placement).status_code == 201
    return api


def test_a_placement_is_saved_with_its_defaults_filled_in(placed: Api) -> None:
    saved = placed.get("/v1/placements/home-hero")
    assert saved["channel"] == "web" and saved["mode"] == "replace"
    assert saved["default"] == {"content": {"headline": "Welcome"}, "template": None}
    similar = placed.get("/v1/placements/pdp-similar")
    assert similar["recommendations"]["exclude"] == {
        "out_of_stock": True, "in_view": True, "in_cart": True, "purchased": False
    }  # fmt: skip
    ids = [p["id"] for p in placed.get("/v1/placements")["placements"]]
    assert ids == ["home-hero", "pdp-similar"]


def test_an_overlay_placement_always_renders_as_an_overlay(api: Api) -> None:
    response = post(api, "/v1/placements", {"id": "exit", "kind": "overlay"})
    assert response.status_code == 201
    assert response.json()["mode"] == "overlay"


def test_an_experience_round_trips_and_is_replaced(placed: Api) -> None:
    created = post(placed, "/v1/experiences", offer())
    assert created.status_code == 201, created.text
    assert created.json()["frequency"] == {
        "per_session": None, "per_day": None, "lifetime": None, "stop_after_conversion": False
    }  # fmt: skip
    assert post(placed, "/v1/experiences", offer()).status_code == 409
    changed = placed.client.put(
        "/v1/experiences/loyalty", json=offer(id=None, priority=9) | {"id": "loyalty"},
        headers=placed.secret_auth,
    )  # fmt: skip
    assert changed.status_code == 200, changed.text
    assert placed.get("/v1/experiences/loyalty")["priority"] == 9
    listed = placed.get("/v1/experiences", placement="home-hero")["experiences"]
    assert [e["id"] for e in listed] == ["loyalty"]
    assert placed.get("/v1/experiences", placement="pdp-similar")["experiences"] == []
    other = placed.client.put(
        "/v1/experiences/loyalty", json=offer(id="other"), headers=placed.secret_auth
    )
    assert other.status_code == 400 and "the path" in other.json()["error"]["message"]
    missing = placed.client.put(
        "/v1/experiences/nope", json=offer(id="nope"), headers=placed.secret_auth
    )
    assert missing.status_code == 404


@pytest.mark.parametrize(
    ("changes", "names"),
    [
        ({"audience": "no-such-audience"}, "audience: no audience 'no-such-audience'"),
        ({"placement": "nowhere"}, "placement: no placement 'nowhere'"),
        ({"variants": [{"id": "a", "template": "<h2>{{ content.headline </h2>"}]},
         "variants[0].template: line 1"),
        ({"variants": [{"id": "a", "content": {"x": 1}},
                       {"id": "b", "template": "{% for %}"}]}, "variants[1].template"),
        ({"trigger": {"type": "page_view", "url": "re:(a+)+$"}}, "trigger.url"),
        ({"trigger": {"type": "page_view", "url": "products"}}, "trigger.url: a glob"),
        ({"trigger": {"type": "event", "name": "Paywall Viewed", "within": "7 days"}},
         "trigger.within"),
        ({"trigger": {"type": "teleport"}}, "trigger"),
        ({"condition": {"traits.plan": {"$regexx": "a"}}},
         "condition.traits.plan.$regexx: unknown operator"),
        ({"variants": [{"id": "a", "recommendations": {"strategy": "magic"}}]},
         "variants[0].recommendations.strategy: unknown strategy 'magic'"),
        ({"variants": [{"id": "a"}]}, "variants[0]: a variant shows"),
        ({"variants": [{"id": "a", "content": {"x": 1}}, {"id": "a", "content": {"y": 2}}]},
         "variants: variant ids repeat: a"),
        ({"variants": []}, "variants"),
        ({"id": "Has Spaces"}, "id"),
        ({"frequency": {"per_session": 0}}, "frequency.per_session"),
        ({"schedule": {"starts_at": "2026-12-02T00:00:00Z", "ends_at": "2026-12-01T00:00:00Z"}},
         "schedule"),
        ({"variants": [{"id": "a", "interactive": {"kind": "quiz", "questions": [
            {"id": "room", "text": "Which room?", "answers": [
                {"value": "k", "label": "Kitchen", "filter": {"colour": "red"}},
                {"value": "l", "label": "Living"}]}],
            "recommendations": {"strategy": "trending"}}}]},
         "variants[0].interactive.questions[0].answers[0].filter"),
    ],
)  # fmt: skip
def test_a_refused_experience_names_the_part(
    placed: Api, changes: dict[str, Any], names: str
) -> None:
    response = post(placed, "/v1/experiences", offer(**changes))
    assert response.status_code == 400, response.text
    assert names in response.json()["error"]["message"], response.json()
    assert placed.get("/v1/experiences")["experiences"] == []


@pytest.mark.parametrize(
    ("placement", "names"),
    [
        ({"id": "x", "kind": "billboard"}, "kind"),
        ({"id": "x", "kind": "banner", "channel": "fax"}, "channel"),
        ({"id": "x", "kind": "banner", "default": {"template": "{{ }"}}, "default.template"),
        ({"id": "x", "kind": "recommendations", "recommendations": {"strategy": "nope"}},
         "recommendations.strategy"),
        ({"id": "x", "kind": "banner", "extra": 1}, "extra"),
        ([1, 2], "body"),
    ],
)  # fmt: skip
def test_a_refused_placement_names_the_part(api: Api, placement: Any, names: str) -> None:
    response = post(api, "/v1/placements", placement)
    assert response.status_code == 400, response.text
    assert names in response.json()["error"]["message"]


def test_a_placement_filled_by_experiences_is_not_deleted(placed: Api) -> None:
    assert post(placed, "/v1/experiences", offer()).status_code == 201
    refused = placed.client.delete("/v1/placements/home-hero", headers=placed.secret_auth)
    assert refused.status_code == 409
    assert refused.json()["error"]["dependents"] == {"experiences": ["loyalty"]}
    gone = placed.client.delete("/v1/experiences/loyalty", headers=placed.secret_auth)
    assert gone.status_code == 200
    deleted = placed.client.delete("/v1/placements/home-hero", headers=placed.secret_auth)
    assert deleted.status_code == 200
    found = placed.client.get("/v1/placements/home-hero", headers=placed.secret_auth)
    assert found.status_code == 404


def test_an_audience_an_experience_uses_is_not_deleted(placed: Api) -> None:
    audience = {"id": "big-spenders", "name": "Big spenders",
                "condition": {"computed.revenue": {"$gte": 500}}}  # fmt: skip
    assert post(placed, "/v1/audiences", audience).status_code == 201
    assert post(placed, "/v1/experiences", offer(audience="big-spenders")).status_code == 201
    among = {"strategy": "trending", "audience": "big-spenders"}
    blocked = offer(id="among", audience=None, variants=[{"id": "a", "recommendations": among}])
    assert post(placed, "/v1/experiences", blocked).status_code == 201
    refused = placed.client.delete("/v1/audiences/big-spenders", headers=placed.secret_auth)
    assert refused.status_code == 409
    assert refused.json()["error"]["dependents"] == {"experiences": ["among", "loyalty"]}
    assert "2 experience(s): among, loyalty" in refused.json()["error"]["message"]


def test_write_keys_cannot_touch_experiences(placed: Api) -> None:
    for auth in (placed.write_auth, placed.server_auth):
        assert placed.client.get("/v1/experiences", headers=auth).status_code == 403
        response = placed.client.post("/v1/placements", json=HERO, headers=auth)
        assert response.status_code == 403


def test_workspaces_do_not_see_each_others(placed: Api) -> None:
    other = placed.services.workspaces.create("other-" + placed.keys.workspace.name)
    headers = {"Authorization": f"Bearer {other.secret_key}"}
    assert placed.client.get("/v1/placements", headers=headers).json() == {"placements": []}
    response = placed.client.post(
        "/v1/experiences", json=offer(), headers=headers
    )  # their placement does not exist there
    assert response.status_code == 400 and "placement" in response.json()["error"]["message"]


def test_errors_of_an_unknown_experience_are_a_404(placed: Api) -> None:
    response = placed.client.get("/v1/experiences/nope/errors", headers=placed.secret_auth)
    assert response.status_code == 404
    assert post(placed, "/v1/experiences", offer()).status_code == 201
    assert placed.get("/v1/experiences/loyalty/errors") == {"errors": [], "next_cursor": None}


# Floats without NaN and infinity: JSON has neither, so no client can send them.
_scalars = (
    st.none() | st.booleans() | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=300)
)  # fmt: skip
_json = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=20), inner, max_size=4),
    max_leaves=20,
)  # fmt: skip
_bodies = st.fixed_dictionaries(
    {"id": st.text(max_size=80), "placement": st.sampled_from(["home-hero", "x", ""])},
    optional={
        "variants": st.lists(
            st.fixed_dictionaries(
                {"id": st.text(min_size=1, max_size=70)},
                optional={"template": st.text(max_size=2000), "content": _json,
                          "recommendations": _json, "interactive": _json},
            ),
            max_size=3,
        ),
        "trigger": _json | st.fixed_dictionaries(
            {"type": st.sampled_from(["page_view", "event", "scroll_depth"]),
             "url": st.text(max_size=300), "name": st.text(max_size=300),
             "within": st.text(max_size=10), "percent": st.integers()}),
        "condition": _json,
        "audience": st.text(max_size=80),
        "frequency": _json,
        "schedule": _json,
        "label": st.text(max_size=200),
    },
)  # fmt: skip


@given(body=_bodies)
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_any_body_is_saved_or_refused_with_a_message(placed: Api, body: dict[str, Any]) -> None:
    response = post(placed, "/v1/experiences", body)
    assert response.status_code in (201, 400, 409), response.text
    if response.status_code == 400:
        assert response.json()["error"]["message"]
    elif response.status_code == 201:
        placed.client.delete(f"/v1/experiences/{body['id']}", headers=placed.secret_auth)
