"""POST /v1/decide through HTTP on both backends: the experience chosen by priority and
targeting (audience, inline condition on the request context, a proven user id), each
server-side trigger, the frequency caps (per session, per day, lifetime, stop after conversion),
fallbacks when a template fails or a block is empty (recorded for GET .../errors), unknown
placements and other channels, what a browser key may not ask, and that exposures never move
the visitor's behaviour counters."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from sqlalchemy import func, select

from relevo.identity.proofs import identity_token
from relevo.storage import schema as t
from tests.conftest import Api

HERO = {"id": "home-hero", "name": "Home hero", "kind": "banner", "selector": "#hero",
        "default": {"content": {"headline": "Welcome"}}}  # fmt: skip


def post(api: Api, path: str, body: Any, auth: dict[str, str] | None = None) -> Any:
    return api.client.post(path, json=body, headers=api.secret_auth if auth is None else auth)


def decide(api: Api, auth: dict[str, str] | None = None, **body: Any) -> Any:
    body.setdefault("placements", ["home-hero"])
    if "identity" not in body:
        body.setdefault("anonymousId", "visitor-1")
    response = post(api, "/v1/decide", body, auth)
    assert response.status_code == 200, response.text
    return response.json()


def hero(api: Api, auth: dict[str, str] | None = None, **body: Any) -> Any:
    return decide(api, auth, **body)["placements"]["home-hero"]


def experience(api: Api, experience_id: str, **changes: Any) -> None:
    body: dict[str, Any] = {
        "id": experience_id,
        "name": experience_id.title(),
        "placement": "home-hero",
        "variants": [{"id": "a", "content": {"headline": experience_id}}],
    }
    body.update(changes)
    response = post(api, "/v1/experiences", body)
    assert response.status_code == 201, response.text


@pytest.fixture
def shop(api: Api) -> Api:
    assert post(api, "/v1/placements", HERO).status_code == 201
    return api


def why(answer: Any, placement: str = "home-hero") -> dict[str, Any]:
    return {e["id"]: e for e in answer["debug"]["placements"][placement]["experiences"]}


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat()


# -- choice -------------------------------------------------------------------------------------


def test_the_highest_priority_eligible_experience_wins_and_debug_says_why_others_lost(
    shop: Api,
) -> None:
    experience(shop, "paused", priority=30, status="paused")
    experience(shop, "vip", priority=20, audience="repeat-customer")
    experience(shop, "first-visit", priority=10, audience="new-visitor",
               label="Picked for you",
               variants=[{"id": "a", "content": {"headline": "Hello"},
                          "template": "<h2>{{ content.headline }}, {{ profile.first_name or "
                                      "'friend' }}</h2>"}])  # fmt: skip
    experience(shop, "everyone", priority=1)
    shown = hero(shop, shop.write_auth)
    assert shown["source"] == "experience"
    assert shown["experience"] == {"id": "first-visit", "name": "First-Visit"}
    assert shown["variant"] == "a" and shown["label"] == "Picked for you"
    assert shown["html"] == "<h2>Hello, friend</h2>"
    assert shown["content"] == {"headline": "Hello"}
    assert shown["selector"] == "#hero" and shown["mode"] == "replace" and shown["token"]
    answer = decide(shop, debug=True)
    reasons = why(answer)
    assert reasons["first-visit"]["outcome"] == "chosen"
    assert reasons["paused"]["outcome"] == "not_eligible"
    assert reasons["paused"]["check"] == "status"
    assert reasons["vip"]["outcome"] == "not_eligible" and reasons["vip"]["check"] == "audience"
    assert "repeat-customer" in reasons["vip"]["why"]
    assert reasons["everyone"]["outcome"] == "lower_priority"
    assert "new-visitor" in [a["id"] for a in answer["debug"]["audiences"]]


def test_a_repeat_customer_proven_by_an_identity_token_sees_the_loyalty_offer(shop: Api) -> None:
    experience(shop, "loyalty", priority=20, audience="repeat-customer")
    experience(shop, "everyone", priority=1)
    for number in (1, 2):
        shop.send("track", userId="ann", event="Order Completed",
                  properties={"order_id": f"o{number}", "revenue": 30})  # fmt: skip
    shop.send("identify", userId="ann", anonymousId="ann-phone", traits={"first_name": "Ann"})
    shop.settle()
    assert hero(shop, shop.write_auth, anonymousId="stranger")["experience"]["id"] == "everyone"
    secret = shop.services.workspaces.trust_keys(shop.keys.workspace.id).identity_secret
    token = identity_token(secret, "ann")
    proven = hero(shop, shop.write_auth, anonymousId="new-device", identityToken=token)
    assert proven["experience"]["id"] == "loyalty"
    answer = decide(shop, shop.write_auth, anonymousId="x", identityToken="not-a-jwt")
    assert answer["placements"]["home-hero"]["experience"]["id"] == "everyone"
    assert [e["code"] for e in answer["errors"]] == ["identity_token_refused"]
    # The secret key finds her by any identity.
    by_user = hero(shop, identity={"kind": "user_id", "value": "ann"})
    assert by_user["experience"]["id"] == "loyalty"


def test_an_email_links_token_decides_its_first_page_for_the_customer(shop: Api) -> None:
    """The page an e-mail link opens is decided before its page view links the visitor: the
    snippet sends the link's token with the decision, which is then the customer's."""
    experience(shop, "loyalty", priority=20, audience="repeat-customer")
    experience(shop, "everyone", priority=1)
    for number in (1, 2):
        shop.send("track", userId="bea", event="Order Completed",
                  properties={"order_id": f"b{number}", "revenue": 30})  # fmt: skip
    shop.send("identify", userId="bea", traits={"email": "bea@example.com"})
    shop.settle()
    asked = {"identity": {"kind": "email", "value": "bea@example.com"}}
    issued = post(shop, "/v1/identity-links", asked).json()
    token = issued["links"][0]["token"]
    linked = hero(shop, shop.write_auth, anonymousId="inbox-device", linkToken=token)
    assert linked["experience"]["id"] == "loyalty"
    forged = decide(shop, shop.write_auth, anonymousId="inbox-device", linkToken=token[:-2] + "xx")
    assert forged["placements"]["home-hero"]["experience"]["id"] == "everyone"
    assert [e["code"] for e in forged["errors"]] == ["link_token_refused"]


def test_an_inline_condition_sees_the_request_context_and_the_traits(shop: Api) -> None:
    experience(shop, "newsletter", priority=10, condition={"context.utm.source": "newsletter"})
    experience(shop, "pros", priority=5, condition={"preferences.persona": "professional"})
    page = {"page": {"url": "https://shop.example/?utm_source=newsletter", "path": "/"}}
    assert hero(shop, context=page)["experience"]["id"] == "newsletter"
    assert hero(shop, context={"page": {"path": "/"}})["source"] == "default"
    shop.send("identify", userId="pat", traits={"preferences": {"persona": "professional"}})
    shop.settle()
    assert hero(shop, identity={"kind": "user_id", "value": "pat"})["experience"]["id"] == "pros"


# -- triggers -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("trigger", "fires", "does_not"),
    [
        ({"type": "page_view", "url": "/products/*"},
         {"page": {"path": "/products/42"}}, {"page": {"path": "/cart"}}),
        ({"type": "page_view", "url": "re:utm_source=ppc"},
         {"page": {"url": "https://s.example/l?utm_source=ppc"}},
         {"page": {"url": "https://s.example/l?utm_source=news"}}),
        ({"type": "product_view"}, {"product": {"product_id": "p1", "price": 80}}, {}),
        ({"type": "cart_value", "over": 50},
         {"cart": {"products": [{"product_id": "p2", "price": 20, "quantity": 3}]}},
         {"cart": {"products": [{"product_id": "p2", "price": 20, "quantity": 2}]}}),
        ({"type": "checkout"}, {"page": {"path": "/checkout/payment"}}, {"page": {"path": "/"}}),
    ],
    ids=["page-glob", "page-regex", "product-view", "cart-value", "checkout"],
)  # fmt: skip
def test_a_server_trigger_decides_eligibility_from_the_request(
    shop: Api, trigger: dict[str, Any], fires: dict[str, Any], does_not: dict[str, Any]
) -> None:
    experience(shop, "triggered", trigger=trigger)
    assert hero(shop, context=fires)["experience"]["id"] == "triggered"
    assert hero(shop, context=does_not)["source"] == "default"
    checks = why(decide(shop, context=does_not, debug=True))["triggered"]
    assert checks["check"] == "trigger"
    triggers = decide(shop, context=fires, debug=True)["debug"]["placements"]["home-hero"]
    assert triggers["triggers"][0]["fired"] is True


def test_an_event_trigger_counts_the_persons_events_the_third_paywall_this_week(
    shop: Api,
) -> None:
    experience(shop, "nudge", trigger={"type": "event", "name": "Paywall Viewed",
                                       "within": "7d", "count": 3})  # fmt: skip
    for number in range(3):
        shop.send("track", anonymousId="reader", event="Paywall Viewed",
                  properties={"article": str(number)})  # fmt: skip
        shop.settle()
        shown = hero(shop, anonymousId="reader")
        assert shown["source"] == ("experience" if number == 2 else "default")


def test_an_off_site_event_e_mail_click_triggers_the_follow_up(shop: Api) -> None:
    experience(shop, "follow-up", trigger={"type": "event", "name": "Email Link Clicked"})
    assert hero(shop, anonymousId="subscriber")["source"] == "default"
    shop.send("track", anonymousId="subscriber", event="Email Link Clicked",
              properties={"url": "https://shop.example/sale"})  # fmt: skip
    shop.settle()
    assert hero(shop, anonymousId="subscriber")["experience"]["id"] == "follow-up"


def test_a_browser_trigger_is_returned_for_the_snippet_to_arm(shop: Api) -> None:
    experience(shop, "exit-offer", trigger={"type": "exit_intent"})
    shown = hero(shop, shop.write_auth)
    assert shown["experience"]["id"] == "exit-offer"
    assert shown["trigger"] == {"type": "exit_intent"}


# -- frequency caps -----------------------------------------------------------------------------


def test_a_per_session_cap_holds_within_the_session_and_resets_in_the_next(shop: Api) -> None:
    experience(shop, "once", frequency={"per_session": 1})
    now = int(time.time() * 1000)
    shop.send("page", anonymousId="v", name="Home", timestamp=iso(now - 60_000))
    shop.settle()
    assert hero(shop, anonymousId="v")["source"] == "experience"
    assert hero(shop, anonymousId="v")["source"] == "default"
    assert "this session" in why(decide(shop, anonymousId="v", debug=True))["once"]["why"]
    # The visitor's next session: an event over the session timeout after their last one.
    shop.send("page", anonymousId="v", name="Home", timestamp=iso(now + 40 * 60_000))
    shop.settle()
    assert hero(shop, anonymousId="v")["source"] == "experience"
    assert hero(shop, anonymousId="v")["source"] == "default"


def test_a_per_day_cap_and_a_lifetime_cap(shop: Api) -> None:
    experience(shop, "daily", priority=10, frequency={"per_day": 2})
    experience(shop, "thrice", priority=5, frequency={"lifetime": 3})
    shown = [hero(shop, anonymousId="v")["experience"] for _ in range(6)]
    assert [s and s["id"] for s in shown] == ["daily", "daily", "thrice", "thrice", "thrice", None]
    reasons = why(decide(shop, anonymousId="v", debug=True))
    assert "today" in reasons["daily"]["why"] and "in all" in reasons["thrice"]["why"]


def test_stop_after_conversion_once_the_visitor_orders_after_first_seeing_it(
    shop: Api,
) -> None:
    experience(shop, "first-order", frequency={"stop_after_conversion": True})
    shop.send("page", anonymousId="buyer", name="Home")
    shop.settle()
    assert hero(shop, anonymousId="buyer")["source"] == "experience"
    assert hero(shop, anonymousId="buyer")["source"] == "experience"
    shop.send("track", anonymousId="buyer", event="Order Completed",
              properties={"order_id": "o1", "revenue": 20})  # fmt: skip
    shop.settle()
    assert hero(shop, anonymousId="buyer")["source"] == "default"
    assert "ordered" in why(decide(shop, anonymousId="buyer", debug=True))["first-order"]["why"]


def test_a_browser_triggered_experience_counts_toward_its_cap_when_its_impression_comes(
    shop: Api,
) -> None:
    experience(shop, "exit", trigger={"type": "exit_intent"}, frequency={"per_session": 1})
    first = hero(shop, shop.write_auth, anonymousId="v")
    assert hero(shop, shop.write_auth, anonymousId="v")["source"] == "experience"  # not shown
    answer = post(shop, "/v1/decide/events",
                  {"anonymousId": "v", "events": [{"token": first["token"], "type": "impression"}]},
                  shop.write_auth).json()  # fmt: skip
    assert answer == {"accepted": 1, "refused": []}
    assert hero(shop, shop.write_auth, anonymousId="v")["source"] == "default"


# -- never failing the page ---------------------------------------------------------------------


def test_a_failing_template_and_an_empty_block_fall_back_and_are_listed_as_errors(
    shop: Api,
) -> None:
    experience(
        shop,
        "broken",
        priority=30,
        variants=[{"id": "a", "template": "<p>{{ range(100000) | list }}</p>"}],
    )
    experience(
        shop,
        "empty-recs",
        priority=20,
        variants=[{"id": "r", "recommendations": {"strategy": "trending", "count": 4}}],
    )
    experience(shop, "plain", priority=10)  # fmt: skip
    answer = decide(shop, debug=True)
    assert answer["placements"]["home-hero"]["experience"]["id"] == "plain"
    reasons = why(answer)
    assert reasons["broken"]["outcome"] == "failed"
    assert reasons["broken"]["why"] == "template_failed"
    assert reasons["empty-recs"]["why"] == "empty_recommendations"
    broken = shop.get("/v1/experiences/broken/errors")["errors"]
    assert broken[0]["code"] == "template_failed" and broken[0]["variant"] == "a"
    assert broken[0]["placement"] == "home-hero" and "range" in broken[0]["message"]
    empty = shop.get("/v1/experiences/empty-recs/errors")["errors"]
    assert empty[0]["code"] == "empty_recommendations"
    assert shop.get("/v1/experiences/plain/errors")["errors"] == []
    # With nothing else eligible, the placement's default.
    assert shop.client.delete("/v1/experiences/plain", headers=shop.secret_auth).status_code == 200
    assert hero(shop)["source"] == "default"
    assert hero(shop)["content"] == {"headline": "Welcome"}


def test_an_unknown_placement_or_another_channels_is_an_error_entry_never_a_500(
    shop: Api,
) -> None:
    receipt = {"id": "receipt-block", "kind": "receipt", "channel": "receipt"}
    assert post(shop, "/v1/placements", receipt).status_code == 201
    answer = decide(shop, placements=["home-hero", "nope", "receipt-block", "nope"])
    assert list(answer["placements"]) == ["home-hero"]
    assert [(e["placement"], e["code"]) for e in answer["errors"]] == [
        ("nope", "unknown_placement"),
        ("receipt-block", "wrong_channel"),
    ]
    empty = {"id": "side", "kind": "inline"}
    assert post(shop, "/v1/placements", empty).status_code == 201
    side = decide(shop, placements=["side"])["placements"]["side"]
    assert side["source"] == "empty" and side["experience"] is None and side["token"]


# -- keys ---------------------------------------------------------------------------------------


def test_what_a_browser_key_may_not_ask(shop: Api) -> None:
    def status(body: dict[str, Any], auth: dict[str, str] | None = None) -> int:
        given = {"placements": ["home-hero"], **body}
        return int(
            post(shop, "/v1/decide", given, shop.write_auth if auth is None else auth).status_code
        )

    someone = {"identity": {"kind": "email", "value": "ann@example.com"}}
    assert status({"anonymousId": "v", **someone}) == 403
    assert status(someone) == 403
    assert status({"anonymousId": "v", "debug": True}) == 403
    assert status({"anonymousId": "v", "channel": "receipt"}) == 403
    assert status({}) == 400  # whose decision?
    assert status({"anonymousId": "v"}, shop.server_auth) == 403
    assert status({"anonymousId": "v"}, {}) == 401
    # From a page on an origin the source does not allow: refused, no CORS headers.
    refused = shop.client.post(
        "/v1/decide",
        json={"anonymousId": "v", "placements": ["home-hero"]},
        headers={**shop.write_auth, "Origin": "https://evil.example"},
    )
    assert refused.status_code == 403
    assert "access-control-allow-origin" not in refused.headers


def test_a_page_sends_its_key_in_a_text_plain_body_like_the_tracking_calls(shop: Api) -> None:
    body = orjson.dumps(
        {"writeKey": shop.keys.write_key, "anonymousId": "v", "placements": ["home-hero"]}
    )
    response = shop.client.post("/v1/decide", content=body, headers={"Content-Type": "text/plain"})
    assert response.status_code == 200, response.text
    assert response.json()["placements"]["home-hero"]["source"] == "default"
    preflight = shop.client.options(
        "/v1/decide",
        headers={"Origin": "https://nowhere.example", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 403  # no browser source allows that origin


def test_a_malformed_body_is_a_400_naming_the_part(shop: Api) -> None:
    for body, part in (
        ({"anonymousId": "v", "placements": []}, "placements"),
        ({"anonymousId": "v", "placements": "home-hero"}, "placements"),
        ({"anonymousId": "v", "placements": ["home-hero"], "channel": "fax"}, "channel"),
        ({"anonymousId": "v", "placements": ["home-hero"], "extra": 1}, "extra"),
        ({"identity": {"kind": "email", "value": "nope"}, "placements": ["home-hero"]}, "email"),
    ):
        response = post(shop, "/v1/decide", body)
        assert response.status_code == 400, body
        assert part in response.json()["error"]["message"]


# -- exposures ----------------------------------------------------------------------------------


def test_exposures_are_system_events_that_move_no_behaviour_counter(shop: Api) -> None:
    experience(shop, "everyone")
    shop.send("page", anonymousId="quiet", name="Home")
    before = shop.profile("anonymous_id", "quiet")["computed"]
    decisions = [decide(shop, shop.write_auth, anonymousId="quiet") for _ in range(3)]
    after = shop.profile("anonymous_id", "quiet")
    for key in ("events", "sessions", "page_views", "last_seen", "first_seen"):
        assert after["computed"].get(key) == before.get(key), key
    assert "Experience Viewed" not in (after["computed"].get("event_counts") or {})
    timeline = shop.get("/v1/profiles/anonymous_id/quiet/events")["events"]
    viewed = [e for e in timeline if e["event"] == "Experience Viewed"]
    assert len(viewed) == 3
    properties = viewed[-1]["message"]["properties"]
    assert properties == {
        "decision_id": decisions[0]["decision_id"],
        "placement": "home-hero",
        "experience_id": "everyone",
        "variant_id": "a",
        "channel": "web",
    }
    # A default fills the placement without an exposure.
    shop.client.delete("/v1/experiences/everyone", headers=shop.secret_auth)
    decide(shop, anonymousId="quiet")
    timeline = shop.get("/v1/profiles/anonymous_id/quiet/events")["events"]
    assert len([e for e in timeline if e["event"] == "Experience Viewed"]) == 3


def test_erasing_a_person_forgets_their_exposure_counters(shop: Api) -> None:
    experience(shop, "once", frequency={"lifetime": 1})
    shop.send("identify", userId="gone", traits={"first_name": "Gone"})
    shop.settle()
    assert hero(shop, identity={"kind": "user_id", "value": "gone"})["source"] == "experience"
    assert hero(shop, identity={"kind": "user_id", "value": "gone"})["source"] == "default"
    erased = shop.client.delete("/v1/profiles/user_id/gone", headers=shop.secret_auth).json()
    assert erased["deleted"]["experience_exposures"] == 1


def test_erasure_also_forgets_the_counters_of_a_first_visit(shop: Api) -> None:
    """A newcomer's first exposure is counted under their identity's key (no profile yet);
    erasing them takes those rows too, so no counter of theirs is left."""
    experience(shop, "once", frequency={"lifetime": 1})
    assert hero(shop, anonymousId="newcomer")["source"] == "experience"
    shop.settle()  # the exposure's event made their profile
    assert hero(shop, anonymousId="newcomer")["source"] == "default"  # both keys counted
    erased = shop.client.delete("/v1/profiles/anonymous_id/newcomer", headers=shop.secret_auth)
    assert erased.json()["deleted"]["experience_exposures"] >= 1
    with shop.services.db.read() as conn:
        left = conn.execute(
            select(func.count()).where(
                t.experience_exposures.c.workspace_id == shop.keys.workspace.id
            )
        ).scalar_one()
    assert left == 0


def test_an_event_trigger_counts_whole_days_as_the_behaviour_counters_do(shop: Api) -> None:
    for within in ("12h", "401d"):
        trigger = {"type": "event", "name": "Paywall Viewed", "within": within}
        variants = [{"id": "a", "content": {"a": 1}}]
        body = {"id": "x", "placement": "home-hero", "variants": variants, "trigger": trigger}
        response = post(shop, "/v1/experiences", body)
        assert response.status_code == 400
        assert "trigger.within: whole days" in response.json()["error"]["message"]
