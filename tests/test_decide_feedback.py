"""POST /v1/decide/events through HTTP on both backends: decision tokens forged, from another
workspace, expired, replayed or another visitor's are refused per event and counted (GET
/v1/decide/refusals); accepted events are system events; submits store an e-mail as a claim
with consent, a self-selection as a declared preference."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from relevo.decide.tokens import DecisionClaims, sign, token_key, visitor_hash
from tests.conftest import Api

HERO = {"id": "home-hero", "kind": "banner", "default": {"content": {"headline": "Welcome"}}}
FORM = {"id": "signup", "kind": "overlay"}


def post(api: Api, path: str, body: Any, auth: dict[str, str] | None = None) -> Any:
    return api.client.post(path, json=body, headers=api.write_auth if auth is None else auth)


def token_for(api: Api, visitor: str = "v", placement: str = "home-hero") -> str:
    response = post(api, "/v1/decide", {"anonymousId": visitor, "placements": [placement]})
    assert response.status_code == 200, response.text
    return str(response.json()["placements"][placement]["token"])


def report(api: Api, events: list[dict[str, Any]], visitor: str = "v", **extra: Any) -> Any:
    response = post(api, "/v1/decide/events", {"anonymousId": visitor, "events": events, **extra})
    assert response.status_code == 200, response.text
    return response.json()


def experience(api: Api, body: dict[str, Any]) -> None:
    response = api.client.post("/v1/experiences", json=body, headers=api.secret_auth)
    assert response.status_code == 201, response.text


@pytest.fixture
def shop(api: Api) -> Api:
    for placement in (HERO, FORM):
        response = api.client.post("/v1/placements", json=placement, headers=api.secret_auth)
        assert response.status_code == 201
    experience(api, {"id": "offer", "placement": "home-hero",
                     "variants": [{"id": "a", "content": {"headline": "10% off"}}]})  # fmt: skip
    return api


def test_each_kind_of_bad_token_is_refused_at_its_index_and_counted(shop: Api) -> None:
    token = token_for(shop)
    other = shop.services.workspaces.create(f"other-{uuid.uuid4().hex[:8]}")
    theirs = {"Authorization": f"Bearer {other.secret_key}"}
    assert post(shop, "/v1/placements", HERO, theirs).status_code == 201
    foreign = post(
        shop,
        "/v1/decide",
        {"anonymousId": "v", "placements": ["home-hero"]},
        Api.basic(other.write_key),
    ).json()["placements"]["home-hero"]["token"]
    key = token_key(shop.services.workspaces.trust_keys(shop.keys.workspace.id).link_secret)
    day_old = sign(key, DecisionClaims(shop.keys.workspace.id, "dec_old", "home-hero", "offer",
                                       "a", visitor_hash(key, ("anonymous_id", "v")),
                                       int(time.time()) - 25 * 3600))  # fmt: skip
    tampered = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    answer = report(shop, [
        {"token": token, "type": "impression"},
        {"token": tampered, "type": "impression"},
        {"token": foreign, "type": "impression"},
        {"token": day_old, "type": "click"},
        {"token": token, "type": "impression"},
        {"token": token, "type": "click"},
        {"token": "not a token", "type": "click"},
    ])  # fmt: skip
    assert answer["accepted"] == 2
    assert answer["refused"] == [
        {"index": 1, "reason": "forged_token"},
        {"index": 2, "reason": "forged_token"},
        {"index": 3, "reason": "expired_token"},
        {"index": 4, "reason": "replayed_token"},
        {"index": 6, "reason": "forged_token"},
    ]
    # Another visitor's: the token is bound to whom the decision was for.
    theirs = report(shop, [{"token": token, "type": "dismiss"}], visitor="someone-else")
    assert theirs == {"accepted": 0, "refused": [{"index": 0, "reason": "other_visitor"}]}
    # A replay in a later request is refused too.
    again = report(shop, [{"token": token, "type": "click"}])
    assert again["refused"] == [{"index": 0, "reason": "replayed_token"}]
    counted = shop.get("/v1/decide/refusals")
    assert counted["totals"] == {
        "forged_token": 3, "expired_token": 1, "replayed_token": 2, "other_visitor": 1
    }  # fmt: skip
    by_experience = {(r["experience_id"], r["reason"]): r["count"] for r in counted["refusals"]}
    assert by_experience[("offer", "replayed_token")] == 2
    assert by_experience[(None, "forged_token")] == 3
    refused = shop.client.get("/v1/decide/refusals", headers=shop.write_auth)
    assert refused.status_code == 403


def test_accepted_feedback_is_stored_as_system_events_of_the_visitor(shop: Api) -> None:
    shop.send("page", anonymousId="v", name="Home")
    before = shop.profile("anonymous_id", "v")["computed"]
    token = token_for(shop)
    kinds = ["impression", "click", "dismiss", "conversion"]
    answer = report(shop, [{"token": token, "type": kind} for kind in kinds])
    assert answer == {"accepted": 4, "refused": []}
    after = shop.profile("anonymous_id", "v")["computed"]
    for key in ("events", "sessions", "last_seen"):
        assert after.get(key) == before.get(key)
    events = shop.get("/v1/profiles/anonymous_id/v/events")["events"]
    names = [e["event"] for e in events]
    for name in ("Experience Impression", "Experience Clicked", "Experience Dismissed",
                 "Experience Converted", "Experience Viewed"):  # fmt: skip
        assert name in names
    clicked = next(e for e in events if e["event"] == "Experience Clicked")
    assert clicked["message"]["properties"]["experience_id"] == "offer"
    assert clicked["message"]["properties"]["placement"] == "home-hero"


def test_the_secret_key_reports_for_any_identity_the_decision_was_for(shop: Api) -> None:
    shop.send("identify", userId="ann", traits={"email": "ann@example.com"})
    shop.settle()
    by_email = {"identity": {"kind": "email", "value": "Ann@Example.com"}}
    decided = post(shop, "/v1/decide", {**by_email, "placements": ["home-hero"]},
                   shop.secret_auth).json()  # fmt: skip
    token = decided["placements"]["home-hero"]["token"]
    events = [{"token": token, "type": "conversion"}]
    answer = post(shop, "/v1/decide/events", {**by_email, "events": events}, shop.secret_auth)
    assert answer.json() == {"accepted": 1, "refused": []}
    # Through a browser key, the same token is another visitor's (an anonymous id).
    browser = report(shop, [{"token": token, "type": "click"}], visitor="ann@example.com")
    assert browser["refused"] == [{"index": 0, "reason": "other_visitor"}]
    names = [e["event"] for e in shop.get("/v1/profiles/user_id/ann/events")["events"]]
    assert "Experience Converted" in names and "Experience Viewed" in names
    asked = post(shop, "/v1/decide/events", {**by_email, "events": events}, shop.write_auth)
    assert asked.status_code == 403


def test_an_e_mail_capture_stores_a_claim_with_consent_never_a_link(shop: Api) -> None:
    experience(shop, {"id": "newsletter", "placement": "signup",
                      "variants": [{"id": "a", "interactive": {
                          "kind": "email_capture", "consent": "newsletter",
                          "prompt": "Get our news"}}]})  # fmt: skip
    shop.send("identify", userId="ann", traits={"email": "ann@example.com"})
    decided = post(shop, "/v1/decide", {"anonymousId": "v", "placements": ["signup"]}).json()
    form = decided["placements"]["signup"]
    assert form["interactive"]["kind"] == "email_capture" and form["mode"] == "overlay"
    submitted = [{"token": form["token"], "type": "submit",
                  "properties": {"email": " Ann@Example.com ", "consent": True}}]  # fmt: skip
    assert report(shop, submitted) == {"accepted": 1, "refused": []}
    visitor = shop.profile("anonymous_id", "v")
    claims = [(c["kind"], c["value"], c["reason"]) for c in visitor["claimed_identities"]]
    assert ("email", "ann@example.com", "unverified") in claims
    assert [i["kind"] for i in visitor["identities"]] == ["anonymous_id"]
    assert visitor["consent"] == {"newsletter": True}
    assert visitor["traits"]["email"] == "ann@example.com"
    ann = shop.profile("user_id", "ann")
    assert ann["profile_id"] != visitor["profile_id"]  # never merged without proof
    bad = [{"token": form["token"], "type": "submit", "properties": {"email": "nope"}}]
    assert report(shop, bad)["refused"] == [{"index": 0, "reason": "invalid_submit"}]


def test_a_self_selection_is_a_declared_preference_that_targeting_then_sees(shop: Api) -> None:
    experience(
        shop,
        {
            "id": "who",
            "placement": "signup",
            "variants": [
                {
                    "id": "a",
                    "interactive": {
                        "kind": "self_selection",
                        "trait": "persona",
                        "options": [
                            {"value": "professional", "label": "I'm a pro"},
                            {"value": "homeowner", "label": "At home"},
                        ],
                    },
                }
            ],
        },
    )
    experience(shop, {"id": "trade-prices", "placement": "home-hero", "priority": 10,
                      "condition": {"preferences.persona": "professional"},
                      "variants": [{"id": "a", "content": {"headline": "Trade"}}]})  # fmt: skip
    shop.send("identify", anonymousId="v", traits={"preferences": {"style": "modern"}})
    shop.settle()
    form = post(shop, "/v1/decide", {"anonymousId": "v", "placements": ["signup"]}).json()
    token = form["placements"]["signup"]["token"]
    wrong = [{"token": token, "type": "submit", "properties": {"value": "astronaut"}}]
    assert report(shop, wrong)["refused"] == [{"index": 0, "reason": "invalid_submit"}]
    chosen = [{"token": token, "type": "submit", "properties": {"value": "professional"}}]
    assert report(shop, chosen) == {"accepted": 1, "refused": []}
    visitor = shop.profile("anonymous_id", "v")
    assert visitor["preferences"] == {"style": "modern", "persona": "professional"}
    hero = post(shop, "/v1/decide", {"anonymousId": "v", "placements": ["home-hero"]}).json()
    assert hero["placements"]["home-hero"]["experience"]["id"] == "trade-prices"
    # The offer's variant asks nothing: a submit for it is refused.
    offer = token_for(shop, "w")
    nothing = [{"token": offer, "type": "submit", "properties": {"value": "x"}}]
    assert report(shop, nothing, visitor="w")["refused"] == [
        {"index": 0, "reason": "not_interactive"}
    ]


def test_a_malformed_report_is_a_400_naming_the_part(shop: Api) -> None:
    for body, part in (
        ({"anonymousId": "v", "events": []}, "events"),
        ({"anonymousId": "v", "events": [{"token": "t", "type": "like"}]}, "type"),
        ({"events": [{"token": "t", "type": "click"}]}, "anonymousId"),
    ):
        response = post(shop, "/v1/decide/events", body)
        assert response.status_code == 400, body
        assert part in response.json()["error"]["message"]


def test_a_click_keeps_what_was_clicked_and_two_cards_are_two_clicks(shop: Api) -> None:
    token = token_for(shop)
    cards = [
        {"token": token, "type": "click", "properties": {"product_id": "p1", "colour": "x"}},
        {"token": token, "type": "click", "properties": {"product_id": "p2"}},
        {"token": token, "type": "click", "properties": {"href": "https://shop.example/sale"}},
    ]
    assert report(shop, cards) == {"accepted": 3, "refused": []}
    again = report(shop, cards[1:2])
    assert again["refused"] == [{"index": 0, "reason": "replayed_token"}]
    events = shop.get("/v1/profiles/anonymous_id/v/events")["events"]
    clicked = [e["message"]["properties"] for e in events if e["event"] == "Experience Clicked"]
    named = sorted(p.get("product_id") or p.get("href") for p in clicked)
    assert named == ["https://shop.example/sale", "p1", "p2"]
    assert all("colour" not in p for p in clicked)
