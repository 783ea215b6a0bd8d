"""Experiments through HTTP on both backends: saved with the secret key as drafts, validated
against the experiences and placements they test (a 400 names the part), started, stopped and
shipped (a 409 when the state forbids it: one running experiment per subject), the global
holdout's bounds, and the compiled set decisions read."""

from __future__ import annotations

import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import Api

HERO = {"id": "home-hero", "kind": "banner", "default": {"content": {"headline": "Welcome"}}}
SIMILAR = {"id": "pdp-similar", "kind": "recommendations",
           "recommendations": {"strategy": "similar", "count": 4}}  # fmt: skip
OFFER = {"id": "loyalty", "placement": "home-hero",
         "variants": [{"id": "a", "content": {"headline": "10% off"}},
                      {"id": "b", "content": {"headline": "Free shipping"}}]}  # fmt: skip
HYPOTHESIS = {"what": "a loyalty headline", "who": "repeat customers",
              "why": "recognition moves them more than discounts"}  # fmt: skip
ORDERS = {"id": "orders", "event": "Order Completed"}


def experiment(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "hero-copy",
        "name": "Hero copy",
        "hypothesis": HYPOTHESIS,
        "kind": "experience",
        "experience": "loyalty",
        "variations": [{"id": "control", "variant": None}, {"id": "offer", "variant": "a"}],
        "goals": [ORDERS],
    }
    body.update(changes)
    return body


def on_placement(**changes: Any) -> dict[str, Any]:
    body = experiment(
        id="recs-strategy", kind="placement", experience=None, placement="pdp-similar",
        variations=[{"id": "as-set", "recommendations": None},
                    {"id": "trending", "recommendations": {"strategy": "trending", "count": 6}}],
    )  # fmt: skip
    body.update(changes)
    return body


def post(api: Api, path: str, body: Any = None) -> Any:
    return api.client.post(path, json=body, headers=api.secret_auth)


def put(api: Api, path: str, body: Any) -> Any:
    return api.client.put(path, json=body, headers=api.secret_auth)


@pytest.fixture
def shop(api: Api) -> Api:
    for path, body in (("/v1/placements", HERO), ("/v1/placements", SIMILAR),
                       ("/v1/experiences", OFFER)):  # fmt: skip
        assert post(api, path, body).status_code == 201
    return api


def test_an_experiment_is_saved_as_a_draft_with_its_defaults(shop: Api) -> None:
    created = post(shop, "/v1/experiments", experiment())
    assert created.status_code == 201, created.text
    saved = created.json()
    assert saved["status"] == "draft" and saved["winner"] is None
    assert saved["started_at"] is None and saved["stopped_at"] is None
    assert saved["control"] == "control" and saved["seed"] == "hero-copy"
    assert saved["coverage"] == 1 and saved["hash_version"] == 2
    assert saved["allocation"] == {"mode": "fixed", "min_share": 0.05, "burn_in": 500, "goal": None}
    assert saved["goals"][0]["window_hours"] == 72 and saved["guardrails"] == []
    assert saved["analysis"]["dimensions"] == [
        "device", "source", "visitor_type", "segment", "audience"
    ]  # fmt: skip
    assert shop.get("/v1/experiments/hero-copy") == saved
    assert [e["id"] for e in shop.get("/v1/experiments")["experiments"]] == ["hero-copy"]
    assert post(shop, "/v1/experiments", experiment()).status_code == 409


def test_a_placement_experiment_overrides_the_recommendation_block(shop: Api) -> None:
    created = post(shop, "/v1/experiments", on_placement())
    assert created.status_code == 201, created.text
    block = created.json()["variations"][1]["recommendations"]
    assert block["strategy"] == "trending" and block["count"] == 6
    assert block["exclude"]["out_of_stock"] is True


@pytest.mark.parametrize(
    ("body", "names"),
    [
        (experiment(experience="nope"), "experience: no experience 'nope'"),
        (experiment(variations=[{"id": "c"}, {"id": "x", "variant": "zz"}]),
         "variations[1].variant: no variant 'zz' in experience 'loyalty' (its variants: a, b)"),
        (experiment(variations=[{"id": "c"}]), "variations"),
        (experiment(variations=[{"id": "c"}, {"id": "c", "variant": "a"}]),
         "variations: ids repeat: c"),
        (experiment(variations=[{"id": "c", "weight": 0}, {"id": "d", "weight": 0}]),
         "the weights sum to 0"),
        (experiment(variations=[{"id": "c", "weight": -1}, {"id": "d"}]),
         "variations[0].weight"),
        (experiment(control="nobody"), "control: no variation 'nobody'"),
        (experiment(coverage=0), "coverage"),
        (experiment(coverage=1.5), "coverage"),
        (experiment(hash_version=3), "hash_version"),
        (experiment(hypothesis={"what": "x", "who": "y"}), "hypothesis.why"),
        (experiment(hypothesis={"what": " ", "who": "y", "why": "z"}), "hypothesis.what"),
        (experiment(goals=[]), "goals"),
        (experiment(goals=[{"id": "r", "event": "Order Completed", "metric": "ratio"}]),
         "goals[0].denominator"),
        (experiment(goals=[ORDERS], guardrails=[ORDERS]), "goals: ids repeat"),
        (experiment(allocation={"mode": "thompson", "goal": "revenue"}),
         "allocation.goal: no goal 'revenue'"),
        (experiment(allocation={"mode": "thompson", "min_share": 0.6}),
         "allocation.min_share"),
        (experiment(kind="placement"), "placement: the id of the recommendation placement"),
        (experiment(variations=[{"id": "c"}, {"id": "d", "recommendations": {"strategy": "x"}}]),
         "variations[1].recommendations: an experience's variations name a variant"),
        (on_placement(placement="home-hero"), "placement: 'home-hero' is a banner placement"),
        (on_placement(placement="nowhere"), "placement: no placement 'nowhere'"),
        (on_placement(variations=[{"id": "c"},
                                  {"id": "d", "recommendations": {"strategy": "magic"}}]),
         "variations[1].recommendations.strategy: unknown strategy 'magic'"),
        (on_placement(variations=[{"id": "c"}, {"id": "d", "variant": "a"}]),
         "variations[1].variant: a placement's variations carry recommendations"),
        (experiment(kind="holdout"), "PUT /v1/holdout"),
        (experiment(id="global-holdout"), "PUT /v1/holdout"),
        (experiment(status="running"), "status: set by the server"),
        (experiment(started_at="2026-01-01T00:00:00Z"), "started_at: set by the server"),
        (experiment(extra=1), "extra"),
        (experiment(id="Has Spaces"), "id"),
        ([1, 2], "body"),
    ],
)  # fmt: skip
def test_a_refused_experiment_names_the_part(shop: Api, body: Any, names: str) -> None:
    response = post(shop, "/v1/experiments", body)
    assert response.status_code == 400, response.text
    assert names in response.json()["error"]["message"], response.json()
    assert shop.get("/v1/experiments")["experiments"] == []


def test_start_stop_resume_and_ship(shop: Api) -> None:
    assert post(shop, "/v1/experiments", experiment()).status_code == 201
    never = post(shop, "/v1/experiments/hero-copy/stop")
    assert never.status_code == 409 and "only a running one stops" in never.text
    assert post(shop, "/v1/experiments/hero-copy/ship", {"variation": "offer"}).status_code == 409
    started = post(shop, "/v1/experiments/hero-copy/start")
    assert started.status_code == 200, started.text
    first_start = started.json()["started_at"]
    assert started.json()["status"] == "running" and first_start is not None
    again = post(shop, "/v1/experiments/hero-copy/start")  # idempotent
    assert again.status_code == 200 and again.json()["started_at"] == first_start
    stopped = post(shop, "/v1/experiments/hero-copy/stop").json()
    assert stopped["status"] == "stopped" and stopped["stopped_at"] is not None
    resumed = post(shop, "/v1/experiments/hero-copy/start").json()
    assert resumed["status"] == "running" and resumed["started_at"] == first_start
    assert resumed["stopped_at"] is None
    unknown = post(shop, "/v1/experiments/hero-copy/ship", {"variation": "nope"})
    assert unknown.status_code == 400 and "control, offer" in unknown.text
    missing = post(shop, "/v1/experiments/hero-copy/ship", {})
    assert missing.status_code == 400 and "variation" in missing.text
    shipped = post(shop, "/v1/experiments/hero-copy/ship", {"variation": "offer"})
    assert shipped.status_code == 200, shipped.text
    assert shipped.json()["status"] == "shipped" and shipped.json()["winner"] == "offer"
    assert shop.get("/v1/experiments/hero-copy")["winner"] == "offer"
    restart = post(shop, "/v1/experiments/hero-copy/start")
    assert restart.status_code == 409 and "shipped" in restart.text
    for action in ("start", "stop", "ship"):
        assert post(shop, f"/v1/experiments/nope/{action}", {"variation": "a"}).status_code == 404


def test_one_running_experiment_per_experience(shop: Api) -> None:
    assert post(shop, "/v1/experiments", experiment()).status_code == 201
    second = experiment(id="hero-copy-2", variations=[{"id": "a", "variant": "a"},
                                                      {"id": "b", "variant": "b"}])  # fmt: skip
    assert post(shop, "/v1/experiments", second).status_code == 201
    assert post(shop, "/v1/experiments/hero-copy/start").status_code == 200
    refused = post(shop, "/v1/experiments/hero-copy-2/start")
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert error["running"] == "hero-copy" and "'hero-copy' already runs" in error["message"]
    # A placement experiment on another subject runs beside it.
    assert post(shop, "/v1/experiments", on_placement()).status_code == 201
    assert post(shop, "/v1/experiments/recs-strategy/start").status_code == 200
    assert post(shop, "/v1/experiments/hero-copy/stop").status_code == 200
    assert post(shop, "/v1/experiments/hero-copy-2/start").status_code == 200


def test_a_started_experiment_keeps_what_assigns_visitors(shop: Api) -> None:
    assert post(shop, "/v1/experiments", experiment()).status_code == 201
    draft_change = put(shop, "/v1/experiments/hero-copy", experiment(coverage=0.5))
    assert draft_change.status_code == 200 and draft_change.json()["coverage"] == 0.5
    running = post(shop, "/v1/experiments/hero-copy/start").json()
    # A GET's answer sent back, state fields included, is accepted as it is.
    renamed = put(shop, "/v1/experiments/hero-copy", {**running, "name": "Hero copy, v2"})
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["name"] == "Hero copy, v2" and renamed.json()["status"] == "running"
    refunds = [{"id": "refunds", "event": "Order Refunded"}]
    goals = put(shop, "/v1/experiments/hero-copy", experiment(coverage=0.5, guardrails=refunds))
    assert goals.status_code == 200, goals.text
    changes: list[tuple[dict[str, Any], str]] = [
        ({"coverage": 1}, "coverage"),
        ({"seed": "other"}, "seed"),
        ({"variations": [{"id": "control"}, {"id": "offer", "variant": "b"}]}, "variations"),
    ]
    for change, field in changes:
        refused = put(shop, "/v1/experiments/hero-copy", experiment(coverage=0.5) | change)
        assert refused.status_code == 409, refused.text
        assert refused.json()["error"]["message"].startswith(f"{field}: ")
    forged = put(shop, "/v1/experiments/hero-copy", {**running, "status": "shipped"})
    assert forged.status_code == 400 and "status: set by the server" in forged.text
    other = put(shop, "/v1/experiments/hero-copy", experiment(id="other"))
    assert other.status_code == 400 and "the path" in other.text
    missing = put(shop, "/v1/experiments/nope", experiment(id="nope"))
    assert missing.status_code == 404


def test_delete_is_refused_while_running(shop: Api) -> None:
    assert post(shop, "/v1/experiments", experiment()).status_code == 201
    assert post(shop, "/v1/experiments/hero-copy/start").status_code == 200
    refused = shop.client.delete("/v1/experiments/hero-copy", headers=shop.secret_auth)
    assert refused.status_code == 409 and "stop it first" in refused.text
    assert post(shop, "/v1/experiments/hero-copy/stop").status_code == 200
    gone = shop.client.delete("/v1/experiments/hero-copy", headers=shop.secret_auth)
    assert gone.status_code == 200 and gone.json() == {"deleted": "hero-copy", "assignments": 0}
    again = shop.client.delete("/v1/experiments/hero-copy", headers=shop.secret_auth)
    assert again.status_code == 404


def test_write_keys_cannot_touch_experiments(shop: Api) -> None:
    for auth in (shop.write_auth, shop.server_auth):
        assert shop.client.get("/v1/experiments", headers=auth).status_code == 403
        assert (
            shop.client.post("/v1/experiments", json=experiment(), headers=auth).status_code == 403
        )
        assert shop.client.put("/v1/holdout", json={"share": 0.1}, headers=auth).status_code == 403
        assert shop.client.get("/v1/holdout", headers=auth).status_code == 403
    assert shop.client.get("/v1/experiments").status_code == 401


def test_the_holdout_is_put_within_its_bounds(shop: Api) -> None:
    nothing: dict[str, Any] = {"share": 0.0, "seed": None, "status": None, "started_at": None,
               "stopped_at": None, "goals": []}  # fmt: skip
    assert shop.get("/v1/holdout") == nothing
    for share in (-0.1, 0.51, 2, "a lot", None):
        refused = put(shop, "/v1/holdout", {"share": share})
        assert refused.status_code == 400 and "share" in refused.text, refused.text
    assert put(shop, "/v1/holdout", {"share": 0.1, "extra": 1}).status_code == 400
    held = put(shop, "/v1/holdout", {"share": 0.1})
    assert held.status_code == 200, held.text
    body = held.json()
    assert body["share"] == 0.1 and body["status"] == "running"
    assert body["seed"] == "global-holdout" and body["goals"][0]["metric"] == "revenue"
    assert put(shop, "/v1/holdout", {"share": 0.5, "seed": "s2"}).json()["seed"] == "s2"
    kept = put(shop, "/v1/holdout", {"share": 0.2}).json()
    assert kept["seed"] == "s2" and kept["started_at"] == body["started_at"]
    holdout = shop.get("/v1/experiments/global-holdout")
    assert holdout["kind"] == "holdout" and [v["weight"] for v in holdout["variations"]] == [
        0.2,
        0.8,
    ]
    off = put(shop, "/v1/holdout", {"share": 0}).json()
    assert off["status"] == "stopped" and off["stopped_at"] is not None
    # Managed by /v1/holdout only.
    assert post(shop, "/v1/experiments/global-holdout/start").status_code == 400
    deleted = shop.client.delete("/v1/experiments/global-holdout", headers=shop.secret_auth)
    assert deleted.status_code == 400
    replaced = put(shop, "/v1/experiments/global-holdout", experiment(id="global-holdout"))
    assert replaced.status_code == 400


def test_decisions_read_the_running_set(shop: Api) -> None:
    experiments = shop.services.experiments
    workspace = shop.keys.workspace.id
    assert experiments.running(workspace).by_experience == {}
    assert post(shop, "/v1/experiments", experiment()).status_code == 201
    assert post(shop, "/v1/experiments", on_placement()).status_code == 201
    assert post(shop, "/v1/experiments/hero-copy/start").status_code == 200
    assert put(shop, "/v1/holdout", {"share": 0.25}).status_code == 200
    running = experiments.running(workspace)
    live = running.by_experience["loyalty"]
    assert live.status == "running" and live.control().id == "control"
    assert "pdp-similar" not in running.by_placement  # a draft
    units = [f"p:{n}" for n in range(2000)]
    chosen = [live.bucket(u) for u in units]
    assert all(c is not None for c in chosen)
    share = sum(1 for c in chosen if c is not None and c.id == "offer") / len(units)
    assert 0.45 < share < 0.55
    assert [live.bucket(u) for u in units[:50]] == chosen[:50]  # deterministic
    held_out = sum(running.in_holdout(u) for u in units) / len(units)
    assert 0.2 < held_out < 0.3
    assert running.in_holdout("anyone", assigned="holdout")
    assert not running.in_holdout("anyone", assigned="personalized")
    assert post(shop, "/v1/experiments/hero-copy/ship", {"variation": "offer"}).status_code == 200
    shipped = experiments.running(workspace).by_experience["loyalty"]
    assert shipped.shipped and {shipped.bucket(u).id for u in units[:50]} == {"offer"}  # type: ignore[union-attr]
    assert put(shop, "/v1/holdout", {"share": 0}).status_code == 200
    assert experiments.running(workspace).holdout is None


def test_another_process_sees_a_change_within_its_check_interval(shop: Api) -> None:
    """A second Experiments over the same database (another server process) caches the set
    and sees a start made elsewhere once its check interval has passed."""
    from relevo.experiments.service import Experiments
    from relevo.recs.strategies import STRATEGIES

    services = shop.services
    workspace = shop.keys.workspace.id
    other = Experiments(services.experiments.store, services.experiences, services.audiences,
                        STRATEGIES, check_seconds=0.05)  # fmt: skip
    assert other.running(workspace).by_experience == {}
    assert post(shop, "/v1/experiments", experiment()).status_code == 201
    assert post(shop, "/v1/experiments/hero-copy/start").status_code == 200
    time.sleep(0.06)
    assert "loyalty" in other.running(workspace).by_experience


def test_the_schema_documents_the_routes(shop: Api) -> None:
    schema = shop.client.get("/openapi.json").json()
    paths = schema["paths"]
    for path, methods in [
        ("/v1/experiments", {"get", "post"}),
        ("/v1/experiments/{experiment_id}", {"get", "put", "delete"}),
        ("/v1/experiments/{experiment_id}/start", {"post"}),
        ("/v1/experiments/{experiment_id}/stop", {"post"}),
        ("/v1/experiments/{experiment_id}/ship", {"post"}),
        ("/v1/holdout", {"get", "put"}),
    ]:
        assert methods <= set(paths[path]), path
        for method in methods:
            assert paths[path][method]["summary"]
    body = paths["/v1/experiments"]["post"]["requestBody"]["content"]["application/json"]
    assert "hypothesis" in body["schema"]["properties"]


_scalars = (
    st.none() | st.booleans() | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=80)
)  # fmt: skip
_json = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.text(max_size=12), inner, max_size=3),
    max_leaves=12,
)  # fmt: skip
_variation = st.fixed_dictionaries(
    {"id": st.sampled_from(["a", "b", "c", "", "A-1"])},
    optional={"weight": st.floats(-1, 10) | _json, "variant": st.sampled_from(["a", "b", "z"])
              | st.none() | _json, "recommendations": _json, "name": _json},
)  # fmt: skip
_bodies = st.fixed_dictionaries(
    {"id": st.sampled_from(["fuzz", "global-holdout", "", "x" * 70]),
     "kind": st.sampled_from(["experience", "placement", "holdout", "other"])},
    optional={
        "name": st.text(max_size=20) | _json,
        "hypothesis": st.fixed_dictionaries({"what": st.text(max_size=5), "who": _json,
                                             "why": st.text(max_size=5)}) | _json,
        "experience": st.sampled_from(["loyalty", "nope"]) | _json,
        "placement": st.sampled_from(["pdp-similar", "home-hero"]) | _json,
        "variations": st.lists(_variation, max_size=4) | _json,
        "control": _json,
        "coverage": st.floats(-1, 2) | _json,
        "goals": st.lists(st.fixed_dictionaries({"id": st.sampled_from(["g", "h"]),
                                                 "event": st.text(max_size=10)},
                                                optional={"metric": _json, "property": _json,
                                                          "denominator": _json}), max_size=2),
        "allocation": _json,
        "analysis": _json,
        "status": _json,
    },
)  # fmt: skip


@given(body=_bodies)
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_any_body_is_saved_or_refused_with_a_message(shop: Api, body: dict[str, Any]) -> None:
    response = post(shop, "/v1/experiments", body)
    assert response.status_code in (201, 400, 409), response.text
    if response.status_code == 400:
        assert response.json()["error"]["message"]
    elif response.status_code == 201:
        shop.client.delete(f"/v1/experiments/{body['id']}", headers=shop.secret_auth)


def test_racing_starts_on_one_experience_let_one_win(shop: Api) -> None:
    """Two servers starting two experiments on the same experience at once: the check and the
    change are one transaction with the subject's rows locked, so exactly one runs."""
    from concurrent.futures import ThreadPoolExecutor

    from relevo.errors import ConflictError

    experiments = shop.services.experiments
    workspace = shop.keys.workspace.id
    ids = [f"race-{n}" for n in range(4)]
    for experiment_id in ids:
        assert post(shop, "/v1/experiments", experiment(id=experiment_id)).status_code == 201

    def start(experiment_id: str) -> bool:
        try:
            experiments.start(workspace, experiment_id)
        except ConflictError:
            return False
        return True

    for _ in range(3):
        with ThreadPoolExecutor(len(ids)) as pool:
            won = list(pool.map(start, ids))
        assert sum(won) == 1
        winner = ids[won.index(True)]
        running = [r.experiment.id for r in experiments.all(workspace) if r.status == "running"]
        assert running == [winner]
        experiments.stop(workspace, winner)


def test_what_a_served_experiment_tests_is_not_deleted(shop: Api) -> None:
    audience = {"id": "big-spenders", "name": "Big spenders",
                "condition": {"computed.revenue": {"$gte": 500}}}  # fmt: skip
    assert post(shop, "/v1/audiences", audience).status_code == 201
    among = {"strategy": "trending", "audience": "big-spenders"}
    recs = on_placement(variations=[{"id": "as-set"}, {"id": "among", "recommendations": among}])
    for body in (experiment(), recs):
        assert post(shop, "/v1/experiments", body).status_code == 201
    drafts_only = shop.client.delete("/v1/audiences/big-spenders", headers=shop.secret_auth)
    assert post(shop, "/v1/audiences", audience).status_code == 201  # a draft holds nothing
    assert drafts_only.status_code == 200
    for experiment_id in ("hero-copy", "recs-strategy"):
        assert post(shop, f"/v1/experiments/{experiment_id}/start").status_code == 200
    for path, expected in [
        ("/v1/experiences/loyalty", ["hero-copy"]),
        ("/v1/placements/pdp-similar", ["recs-strategy"]),
        ("/v1/audiences/big-spenders", ["recs-strategy"]),
    ]:
        refused = shop.client.delete(path, headers=shop.secret_auth)
        assert refused.status_code == 409, (path, refused.text)
        assert refused.json()["error"]["dependents"] == {"experiments": expected}
        assert expected[0] in refused.json()["error"]["message"]
    assert post(shop, "/v1/experiments/hero-copy/ship", {"variation": "offer"}).status_code == 200
    shipped = shop.client.delete("/v1/experiences/loyalty", headers=shop.secret_auth)
    assert shipped.status_code == 409  # its winner is served to everyone
    assert post(shop, "/v1/experiments/recs-strategy/stop").status_code == 200
    assert (
        shop.client.delete("/v1/placements/pdp-similar", headers=shop.secret_auth).status_code
        == 200
    )
    assert (
        shop.client.delete("/v1/audiences/big-spenders", headers=shop.secret_auth).status_code
        == 200
    )


def test_what_a_served_experiment_shows_stays_while_it_runs(shop: Api) -> None:
    for body in (experiment(), on_placement()):
        assert post(shop, "/v1/experiments", body).status_code == 201
        assert post(shop, f"/v1/experiments/{body['id']}/start").status_code == 200
    without_a = {**OFFER, "variants": [OFFER["variants"][1]]}
    refused = put(shop, "/v1/experiences/loyalty", without_a)
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"]["message"].startswith("variants: experiment 'hero-copy'")
    with_more = {**OFFER, "variants": [*OFFER["variants"], {"id": "c", "content": {"x": 1}}]}
    assert put(shop, "/v1/experiences/loyalty", with_more).status_code == 200
    banner = put(shop, "/v1/placements/pdp-similar", {**SIMILAR, "kind": "banner"})
    assert banner.status_code == 409 and banner.json()["error"]["dependents"] == {
        "experiments": ["recs-strategy"]
    }
    assert (
        put(shop, "/v1/placements/pdp-similar", {**SIMILAR, "name": "Similar"}).status_code == 200
    )
    assert post(shop, "/v1/experiments/hero-copy/stop").status_code == 200
    assert put(shop, "/v1/experiences/loyalty", without_a).status_code == 200
