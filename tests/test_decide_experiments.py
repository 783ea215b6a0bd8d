"""Experiments inside POST /v1/decide, through HTTP on both backends: the arm each visitor gets
(the control holds the experience back), one ``Experiment Viewed`` per unit (a system event
that writes the sticky assignment), stickiness across devices once the person is known, the
global holdout (placement defaults only, never assigned to an experiment), a shipped winner
for everyone without exposures, and a recommendation placement's strategy under test."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import select

from relevo.experiments.assignment import hash_unit
from relevo.storage import schema as t
from tests.conftest import Api
from tests.test_recs_api import _shop_history, _train
from tests.test_rules_api import CATALOG, ON_SALE, _eventually, _save, _upsert

HERO = {"id": "home-hero", "kind": "banner", "default": {"content": {"headline": "Welcome"}}}
SIMILAR = {"id": "pdp-similar", "kind": "recommendations",
           "recommendations": {"strategy": "trending", "count": 4}}  # fmt: skip
OFFER = {"id": "loyalty", "placement": "home-hero",
         "variants": [{"id": "a", "content": {"headline": "10% off"}},
                      {"id": "b", "content": {"headline": "Free shipping"}}]}  # fmt: skip
HYPOTHESIS = {"what": "a loyalty headline", "who": "everyone", "why": "offers convert"}
GOALS = [{"id": "orders", "event": "Order Completed"}]
EXPERIMENT = {
    "id": "hero-copy", "name": "Hero copy", "hypothesis": HYPOTHESIS, "kind": "experience",
    "experience": "loyalty", "goals": GOALS,
    "variations": [{"id": "control", "name": "No offer", "variant": None},
                   {"id": "ten-off", "name": "10% off", "variant": "a"},
                   {"id": "shipping", "name": "Free shipping", "variant": "b"}],
}  # fmt: skip


def settle(api: Api, timeout: float = 5.0) -> None:
    """The decisions' events are handed to the writer after the answer: wait until it has
    stored them, then until the materializer has folded them."""
    deadline = time.monotonic() + timeout
    while api.services.decider.writing() and time.monotonic() < deadline:
        time.sleep(0.005)
    assert not api.services.decider.writing(), "exposure events not stored in time"
    api.settle()


def post(api: Api, path: str, body: Any = None) -> Any:
    response = api.client.post(path, json=body, headers=api.secret_auth)
    assert response.status_code in (200, 201), response.text
    return response.json()


def decide(api: Api, body: dict[str, Any], placements: list[str] | None = None) -> Any:
    body = {"placements": placements or ["home-hero"], **body}
    response = api.client.post("/v1/decide", json=body, headers=api.secret_auth)
    assert response.status_code == 200, response.text
    return response.json()


def headline(answer: Any) -> str:
    return str(answer["placements"]["home-hero"]["content"].get("headline"))


def assignments(api: Api, experiment_id: str) -> list[tuple[int, str]]:
    c = t.experiment_assignments.c
    with api.services.db.read() as conn:
        rows = conn.execute(
            select(c.profile_id, c.variation_id).where(
                c.experiment_id == experiment_id, c.workspace_id == api.keys.workspace.id
            )
        ).all()
    return [(int(r[0]), str(r[1])) for r in rows]


def viewed(api: Api, experiment_id: str) -> list[dict[str, Any]]:
    with api.services.db.read() as conn:
        rows = conn.execute(
            select(t.events.c.payload).where(
                t.events.c.event == "Experiment Viewed",
                t.events.c.workspace_id == api.keys.workspace.id,
            )
        ).all()
    return [r[0] for r in rows if r[0]["properties"]["experiment_id"] == experiment_id]


@pytest.fixture
def shop(api: Api) -> Api:
    post(api, "/v1/placements", HERO)
    post(api, "/v1/placements", SIMILAR)
    post(api, "/v1/experiences", OFFER)
    post(api, "/v1/experiments", EXPERIMENT)
    post(api, "/v1/experiments/hero-copy/start")
    return api


SHOWN = {"Welcome": "control", "10% off": "ten-off", "Free shipping": "shipping"}


def test_each_visitor_gets_one_arm_the_control_holds_the_experience_back(shop: Api) -> None:
    seen: Counter[str] = Counter()
    for n in range(150):
        first = decide(shop, {"anonymousId": f"v{n}"})
        again = decide(shop, {"anonymousId": f"v{n}"})
        assert headline(first) == headline(again)  # the same arm on every decision
        seen[SHOWN[headline(first)]] += 1
        if SHOWN[headline(first)] == "control":
            assert first["placements"]["home-hero"]["source"] == "default"
    assert set(seen) == {"control", "ten-off", "shipping"}
    assert all(30 <= count <= 70 for count in seen.values()), seen
    settle(shop)
    rows = assignments(shop, "hero-copy")
    # One Experiment Viewed and one assignment per visitor, whatever the repeats.
    assert len(rows) == 150 and len({p for p, _ in rows}) == 150
    assert Counter(v for _, v in rows) == seen
    events = viewed(shop, "hero-copy")
    assert len(events) == 150
    properties = events[0]["properties"]
    assert set(properties) >= {"experiment_id", "experiment_name", "variation_id",
                               "variation_name"}  # fmt: skip
    assert properties["experiment_name"] == "Hero copy"


def test_debug_says_the_control_held_the_experience_back(shop: Api) -> None:
    for n in range(100):
        answer = decide(shop, {"anonymousId": f"d{n}", "debug": True})
        if headline(answer) == "Welcome":
            placement = answer["debug"]["placements"]["home-hero"]
            assert placement["experiments"] == [
                {"experiment": "hero-copy", "variation": "control", "sticky": False,
                 "counted": True}
            ]  # fmt: skip
            [loyalty] = placement["experiences"]
            assert loyalty["outcome"] == "held_back"
            return
    pytest.fail("no visitor of 100 was in the control")


def _device_in(arm: str) -> str:
    """An anonymous id the experiment's hash puts in ``arm`` (three equal thirds)."""
    for n in range(5000):
        position = hash_unit("hero-copy", f"anonymous_id:dev-{n}", 2)
        assert position is not None
        if ["control", "ten-off", "shipping"][int(position * 3)] == arm:
            return f"dev-{n}"
    raise AssertionError("no id found")


def test_a_known_person_keeps_their_arm_on_a_new_device(shop: Api) -> None:
    phone = _device_in("ten-off")
    laptop = _device_in("shipping")
    shop.send("identify", userId="ann", anonymousId=phone)
    settle(shop)
    assert SHOWN[headline(decide(shop, {"anonymousId": phone}))] == "ten-off"
    settle(shop)
    # The laptop alone would hash to another arm; known as Ann, she keeps hers.
    assert SHOWN[headline(decide(shop, {"anonymousId": laptop}))] == "shipping"
    by_user = decide(shop, {"identity": {"kind": "user_id", "value": "ann"}})
    assert SHOWN[headline(by_user)] == "ten-off"
    shop.send("identify", userId="ann", anonymousId=laptop)
    settle(shop)
    assert SHOWN[headline(decide(shop, {"anonymousId": laptop}))] == "ten-off"


def test_the_global_holdout_sees_defaults_and_is_never_assigned(shop: Api) -> None:
    response = shop.client.put("/v1/holdout", json={"share": 0.3}, headers=shop.secret_auth)
    assert response.status_code == 200, response.text
    held = 0
    for n in range(200):
        answer = decide(shop, {"anonymousId": f"h{n}", "debug": True})
        if answer["debug"]["holdout"] == "holdout":
            held += 1
            assert answer["placements"]["home-hero"]["source"] == "default"
            assert answer["debug"]["placements"]["home-hero"]["experiments"] == []
        else:
            assert answer["debug"]["holdout"] == "personalized"
    assert 40 <= held <= 80, held
    settle(shop)
    holdout = assignments(shop, "global-holdout")
    assert len(holdout) == 200
    assert Counter(v for _, v in holdout)["holdout"] == held
    held_profiles = {p for p, v in holdout if v == "holdout"}
    assert not held_profiles & {p for p, _ in assignments(shop, "hero-copy")}
    assert len(assignments(shop, "hero-copy")) == 200 - held


def test_a_shipped_winner_is_shown_to_everyone_without_exposures(shop: Api) -> None:
    post(shop, "/v1/experiments/hero-copy/stop")
    post(shop, "/v1/experiments/hero-copy/ship", {"variation": "shipping"})
    for n in range(30):
        assert headline(decide(shop, {"anonymousId": f"s{n}"})) == "Free shipping"
    settle(shop)
    assert assignments(shop, "hero-copy") == []


def test_a_recommendation_placements_strategy_under_test(shop: Api) -> None:
    post(shop, "/v1/experiments", {
        "id": "recs-strategy", "name": "Recs", "hypothesis": HYPOTHESIS, "kind": "placement",
        "placement": "pdp-similar", "goals": GOALS,
        "variations": [{"id": "as-set", "recommendations": None},
                       {"id": "recent",
                        "recommendations": {"strategy": "recently_viewed", "count": 3}}],
    })  # fmt: skip
    post(shop, "/v1/experiments/recs-strategy/start")
    strategies: Counter[str] = Counter()
    for n in range(60):
        answer = decide(shop, {"anonymousId": f"r{n}", "debug": True}, ["pdp-similar"])
        [arm] = answer["debug"]["placements"]["pdp-similar"]["experiments"]
        strategies[arm["variation"]] += 1
        # An empty shop recommends nothing: the answer's error names the strategy asked.
        [error] = [e for e in answer["errors"] if e["placement"] == "pdp-similar"]
        asked = "trending" if arm["variation"] == "as-set" else "recently_viewed"
        assert error["message"].startswith(f"{asked} recommended nothing"), error
    assert set(strategies) == {"as-set", "recent"}
    settle(shop)
    assert len(assignments(shop, "recs-strategy")) == 60


def test_a_rules_off_arm_answers_without_the_workspaces_merchandising_rules(api: Api) -> None:

    api.batch(_shop_history())
    api.settle()
    _upsert(api, CATALOG)
    _train(api)
    _save(api, {"id": "sale-only", "kind": "filter", "condition": ON_SALE})
    picks = {"id": "picks", "kind": "recommendations",
             "recommendations": {"strategy": "trending", "count": 5}}  # fmt: skip
    post(api, "/v1/placements", picks)
    post(api, "/v1/experiments", {
        "id": "rules-test", "name": "Rules", "hypothesis": HYPOTHESIS, "kind": "placement",
        "placement": "picks", "goals": GOALS,
        "variations": [{"id": "rules-on", "recommendations": None},
                       {"id": "rules-off", "recommendations": None, "merchandising": False}],
    })  # fmt: skip
    post(api, "/v1/experiments/rules-test/start")
    on_sale = {p["product_id"] for p in CATALOG if "sale_price" in p}
    seen: Counter[str] = Counter()
    for n in range(40):
        answer = _eventually(
            lambda n=n: decide(api, {"anonymousId": f"m{n}", "debug": True}, ["picks"]),
            lambda a: bool(a["placements"]["picks"]["recommendations"]),
        )
        [arm] = answer["debug"]["placements"]["picks"]["experiments"]
        items = {i["product_id"] for i in answer["placements"]["picks"]["recommendations"]["items"]}
        seen[arm["variation"]] += 1
        if arm["variation"] == "rules-on":
            assert items <= on_sale, items  # the sale-only filter applied
        else:
            assert items - on_sale, items  # the same block without it
    assert set(seen) == {"rules-on", "rules-off"}


def test_merchandising_off_is_a_placement_experiments_switch(shop: Api) -> None:
    body = {
        **EXPERIMENT,
        "id": "bad",
        "variations": [
            {"id": "a", "variant": "a"},
            {"id": "b", "variant": "b", "merchandising": False},
        ],
    }
    response = shop.client.post("/v1/experiments", json=body, headers=shop.secret_auth)
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("variations[1].merchandising")
