"""Segments, propensity and lifetime value wired into `relevo train`: computed per workspace,
stored per profile (profile_scores), shown on the profile and listed by GET /v1/segments,
erased with the person, never readable with a write key."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select

from relevo.jobs.training import train_workspace
from relevo.storage import schema as t
from tests.conftest import Api

DAY = dt.timedelta(days=1)


def _order(user: str, n: int, when: dt.datetime, value: float, category: str) -> dict[str, Any]:
    return {
        "type": "track",
        "userId": user,
        "event": "Order Completed",
        "timestamp": when.isoformat().replace("+00:00", "Z"),
        "properties": {
            "order_id": f"{user}-{n}",
            "revenue": value,
            "products": [{"product_id": f"{category}-{n % 3}", "quantity": 1}],
        },
    }


def _shop(api: Api, now: dt.datetime | None = None) -> None:
    """Regulars (an order every ten days for most of a year, big baskets of home goods),
    occasional buyers (three small orders of books) and one-time buyers long gone."""
    now = now or dt.datetime.now(dt.UTC).replace(microsecond=0)
    messages = []
    for c in range(15):
        messages += [
            _order(f"regular{c}", n, now - (5 + c % 4 + 10 * n) * DAY, 180.0 + c, "home")
            for n in range(30)
        ]
    for c in range(15):
        messages += [
            _order(f"occasional{c}", n, now - (40 + c + 90 * n) * DAY, 25.0 + c, "books")
            for n in range(3)
        ]
    for c in range(15):
        messages.append(_order(f"once{c}", 0, now - (250 + 3 * c) * DAY, 40.0, "toys"))
    for start in range(0, len(messages), 200):
        api.batch(messages[start : start + 200])
    api.send("identify", userId="prospect", traits={"plan": "free"})
    api.settle()


@pytest.fixture
def scored(api: Api) -> Api:
    _shop(api)
    train_workspace(api.services, api.keys.workspace)
    return api


def test_before_any_training_there_are_no_segments_and_no_scores(api: Api) -> None:
    _shop(api)
    response = api.client.get("/v1/segments", headers=api.secret_auth)
    assert response.status_code == 404
    assert "relevo train" in response.json()["error"]["message"]
    scores = api.profile("user_id", "regular1")["scores"]
    assert scores["segment"] == {"id": None, "label": None}
    assert scores["propensity"]["purchase_30d"] is None


def test_segments_are_listed_with_sizes_words_and_the_criterion(scored: Api) -> None:
    listing = scored.get("/v1/segments")
    assert listing["criterion"] == "silhouette"
    assert listing["customers"] == 45
    assert [c["k"] for c in listing["candidates"]] == list(range(3, 9))
    assert listing["k"] == max(listing["candidates"], key=lambda c: c["silhouette"])["k"]
    segments = listing["segments"]
    assert sum(s["size"] for s in segments) == 45
    assert sum(s["profiles"] for s in segments) == 45  # every customer carries one
    assert all(s["label"] and s["summary"] for s in segments)
    assert segments[0]["id"] == "seg-1"  # the most valuable kind of customer first
    assert segments[0]["centre"]["orders"] == 30


def test_each_profile_shows_its_segment_propensity_and_value(scored: Api) -> None:
    ids = {s["id"]: s["label"] for s in scored.get("/v1/segments")["segments"]}
    regular = scored.profile("user_id", "regular3")["scores"]
    gone = scored.profile("user_id", "once3")["scores"]
    assert regular["segment"]["id"] in ids
    assert regular["segment"]["label"] == ids[regular["segment"]["id"]]
    assert regular["segment"]["id"] != gone["segment"]["id"]
    for scores in (regular, gone):
        assert 0.0 <= scores["propensity"]["purchase_30d"] <= 1.0
        assert 0.0 <= scores["propensity"]["churn_90d"] <= 1.0
        assert scores["clv"]["next_12m"] >= 0.0
    # A regular orders every ten days; a one-time buyer of eight months ago hardly ever again.
    assert regular["propensity"]["purchase_30d"] > gone["propensity"]["purchase_30d"]
    assert regular["propensity"]["churn_90d"] < gone["propensity"]["churn_90d"]
    assert regular["clv"]["next_12m"] > 10 * gone["clv"]["next_12m"]
    prospect = scored.profile("user_id", "prospect")["scores"]
    assert prospect["segment"]["id"] is None and prospect["clv"]["next_12m"] is None


def test_retraining_keeps_the_segment_ids_and_writes_the_plot(scored: Api) -> None:
    before = {s["id"]: s["label"] for s in scored.get("/v1/segments")["segments"]}
    trained = train_workspace(scored.services, scored.keys.workspace)
    after = {s["id"]: s["label"] for s in scored.get("/v1/segments")["segments"]}
    assert after == before
    assert trained.plot is not None and trained.plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert trained.scored == 45 and trained.segments == len(after)


def test_erasure_deletes_the_persons_scores(scored: Api) -> None:
    profile_id = scored.profile("user_id", "regular2")["profile_id"]
    response = scored.client.delete("/v1/profiles/user_id/regular2", headers=scored.secret_auth)
    assert response.status_code == 200
    s = t.profile_scores.c
    with scored.services.db.read() as conn:
        left = conn.execute(select(s.profile_id).where(s.profile_id == profile_id)).all()
        others = conn.execute(
            select(s.profile_id).where(s.workspace_id == scored.keys.workspace.id)
        ).all()
    assert left == [] and len(others) == 44


def test_a_training_never_stores_the_scores_of_someone_erased_meanwhile(api: Api) -> None:
    _shop(api)
    profile_id = api.profile("user_id", "regular4")["profile_id"]
    orders = api.services.scores.orders_frame(api.keys.workspace.id)  # read before the erasure
    response = api.client.delete("/v1/profiles/user_id/regular4", headers=api.secret_auth)
    assert response.status_code == 200
    from relevo.scores.scoring import score_customers

    run = score_customers(orders, int(dt.datetime.now(dt.UTC).timestamp() * 1000), "v")
    assert profile_id in {score.profile_id for score in run.scores}
    written = api.services.scores.replace(api.keys.workspace.id, run.scores)
    assert written == 44
    assert api.services.scores.of_profile(api.keys.workspace.id, profile_id) is None


def test_segments_are_read_with_the_secret_key_only(scored: Api) -> None:
    for headers in ({}, scored.write_auth, scored.server_auth):
        response = scored.client.get("/v1/segments", headers=headers)
        assert response.status_code in (401, 403), response.text


def test_a_shop_of_past_years_is_judged_as_of_its_latest_event(api: Api) -> None:
    # An import of 2015's orders: judged today, nobody would have ordered "in 30 days".
    _shop(api, now=dt.datetime(2015, 6, 1, tzinfo=dt.UTC))
    train_workspace(api.services, api.keys.workspace)
    regular = api.profile("user_id", "regular3")["scores"]
    gone = api.profile("user_id", "once3")["scores"]
    assert regular["propensity"]["purchase_30d"] > gone["propensity"]["purchase_30d"]
    assert regular["computed_at"] < dt.datetime(2015, 6, 1, tzinfo=dt.UTC).timestamp() * 1000
