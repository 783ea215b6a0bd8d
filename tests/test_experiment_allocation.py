"""Adaptive allocation through HTTP on both backends: a thompson experiment's weights stay
fixed through the burn-in, then follow the evidence (the better arm gets most new visitors,
the other keeps its minimum share), assigned visitors keep their arm, exposures are logged as
with fixed weights, and GET .../allocation reports the regret and the best variant's uplift."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import func, select

from relevo.storage import schema as t
from tests.conftest import Api
from tests.test_decide_experiments import settle

HERO = {"id": "home-hero", "kind": "banner", "default": {"content": {"headline": "Welcome"}}}
OFFER = {"id": "offer", "placement": "home-hero",
         "variants": [{"id": "a", "content": {"headline": "10% off"}},
                      {"id": "b", "content": {"headline": "Free shipping"}}]}  # fmt: skip
BANDIT = {
    "id": "offer-bandit", "name": "Offer bandit", "kind": "experience", "experience": "offer",
    "hypothesis": {"what": "the offer", "who": "everyone", "why": "find the better one fast"},
    "variations": [{"id": "A", "variant": "a"}, {"id": "B", "variant": "b"}],
    "allocation": {"mode": "thompson", "min_share": 0.1, "burn_in": 30},
    "goals": [{"id": "orders", "event": "Order Completed"}],
}  # fmt: skip
SHOWN = {"10% off": "A", "Free shipping": "B"}


def call(api: Api, method: str, path: str, body: Any = None) -> Any:
    response = api.client.request(method, path, json=body, headers=api.secret_auth)
    assert response.status_code in (200, 201), response.text
    return response.json()


def arm_of(api: Api, visitor: str) -> str:
    answer = call(api, "POST", "/v1/decide", {"anonymousId": visitor, "placements": ["home-hero"]})
    return SHOWN[answer["placements"]["home-hero"]["content"]["headline"]]


@pytest.fixture
def shop(api: Api) -> Api:
    call(api, "POST", "/v1/placements", HERO)
    call(api, "POST", "/v1/experiences", OFFER)
    call(api, "POST", "/v1/experiments", BANDIT)
    call(api, "POST", "/v1/experiments/offer-bandit/start")
    return api


def exposures_and_orders(api: Api, per_arm: int, rates: dict[str, float], first: int = 0) -> None:
    """``per_arm`` visitors exposed to each arm (as a decision's event would say), and the
    orders of the first ``rate`` of them."""
    for arm, rate in rates.items():
        for n in range(per_arm):
            visitor = f"seen-{arm}-{first + n}"
            exposure = {"experiment_id": "offer-bandit", "variation_id": arm,
                        "experiment_name": "Offer bandit", "variation_name": arm}  # fmt: skip
            api.send("track", anonymousId=visitor, event="Experiment Viewed", properties=exposure)
            if n < per_arm * rate:
                api.send("track", anonymousId=visitor, event="Order Completed",
                         properties={"order_id": f"{visitor}-o", "revenue": 50})  # fmt: skip
    api.settle()


def test_weights_hold_through_the_burn_in_then_follow_the_evidence(shop: Api) -> None:
    allocator = shop.services.allocator()
    exposures_and_orders(shop, 10, {"A": 0.1, "B": 0.5})
    [burn_in] = [a for a in allocator.run_once() if a.experiment_id == "offer-bandit"]
    assert burn_in.allocation["reason"] == "burn_in"
    assert burn_in.allocation["weights"] == [0.5, 0.5]
    exposures_and_orders(shop, 60, {"A": 0.05, "B": 0.4}, first=10)  # 70 units an arm now
    [adapted] = [a for a in allocator.run_once() if a.experiment_id == "offer-bandit"]
    weights = dict(zip(["A", "B"], adapted.allocation["weights"], strict=True))
    assert adapted.allocation["reason"] == "thompson"
    assert weights["B"] > 0.85 and weights["A"] >= 0.1 - 1e-9, weights
    assert sum(weights.values()) == pytest.approx(1)
    time.sleep(1.1)  # the running set's cache looks for changes every second
    shown = Counter(arm_of(shop, f"new-{n}") for n in range(200))
    assert shown["B"] >= 150 and shown["A"] >= 5, shown  # ~90/10
    settle(shop)
    c = t.experiment_assignments.c
    with shop.services.db.read() as conn:
        assigned = conn.execute(
            select(func.count()).where(
                c.workspace_id == shop.keys.workspace.id, c.experiment_id == "offer-bandit"
            )
        ).scalar_one()
    assert assigned == 140 + 200  # the seen visitors and the new ones, once each
    answer = call(shop, "GET", "/v1/experiments/offer-bandit/allocation")
    assert answer["mode"] == "thompson"
    assert answer["weights"] == pytest.approx(weights)
    report = answer["report"]
    assert report["ready"] is True and report["best"] == "B" and report["best_variant"] == "B"
    low, high = report["best_variant_uplift_ci"]
    assert low < report["best_variant_uplift"] < high and report["best_variant_uplift"] > 0.5
    assert report["expected_regret"] >= 0 and 0 <= report["regret_share"] <= 1


def test_an_assigned_visitor_keeps_their_arm_when_the_weights_move(shop: Api) -> None:
    allocator = shop.services.allocator()
    exposures_and_orders(shop, 40, {"A": 0.0, "B": 0.5})
    allocator.run_once()
    time.sleep(1.1)
    # seen-A-0 was exposed to A (their assignment): A stays, whatever the weights now say.
    assert arm_of(shop, "seen-A-0") == "A"


def test_a_fixed_experiment_reports_its_saved_weights_and_no_bandit(shop: Api) -> None:
    call(shop, "POST", "/v1/experiments/offer-bandit/stop")
    fixed = {**BANDIT, "id": "fixed", "allocation": {"mode": "fixed"},
             "variations": [{"id": "A", "variant": "a", "weight": 3},
                            {"id": "B", "variant": "b", "weight": 1}]}  # fmt: skip
    call(shop, "POST", "/v1/experiments", fixed)
    call(shop, "POST", "/v1/experiments/fixed/start")
    answer = call(shop, "GET", "/v1/experiments/fixed/allocation")
    assert answer == {"mode": "fixed", "weights": {"A": 0.75, "B": 0.25}, "allocation": None,
                      "report": None}  # fmt: skip
    assert not [a for a in shop.services.allocator().run_once() if a.experiment_id == "fixed"]
