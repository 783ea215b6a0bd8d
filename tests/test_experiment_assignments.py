"""Sticky assignments, on both backends: an ``Experiment Viewed`` event stored through the real
tracking path writes its profile's assignment in the same transaction, once; a repeat or a
later exposure never moves it; a merged person keeps the earliest exposure's variation with
both rows kept; erasing the person deletes them."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from relevo.experiments.exposure import (
    EXPERIMENT_VIEWED,
    ExperimentExposure,
    exposure_message_id,
)
from relevo.storage import schema as t
from relevo.storage.database import Database
from relevo.storage.experiment_store import MAX_AUDIENCES, ExperimentStore
from tests.conftest import Api


def viewed(
    variation: str, stamp: str, experiment: str = "hero-copy", unit: str = "u", **dimensions: Any
) -> dict[str, Any]:
    exposure = ExperimentExposure(experiment, "Hero copy", variation, variation.title())
    properties = exposure.properties() | dimensions
    message_id = exposure_message_id(experiment, f"{unit}:{variation}:{stamp}")
    return {"event": EXPERIMENT_VIEWED, "properties": properties, "timestamp": stamp,
            "messageId": message_id}  # fmt: skip


def rows(api: Api) -> list[dict[str, Any]]:
    a = t.experiment_assignments.c
    with api.services.db.read() as conn:
        found = conn.execute(
            select(t.experiment_assignments)
            .where(a.workspace_id == api.keys.workspace.id)
            .order_by(a.experiment_id, a.exposed_at)
        ).mappings()
        return [dict(r) for r in found]


def profile_id(api: Api, kind: str, value: str) -> int:
    return int(api.profile(kind, value)["profile_id"])


def assigned(api: Api, profile: int) -> dict[str, str]:
    return api.services.experiments.assigned(api.keys.workspace.id, profile)


def test_an_exposure_assigns_its_profile_once(api: Api) -> None:
    first = viewed("offer", "2026-11-01T10:00:00Z", device="mobile", source="newsletter",
                   visitor_type="new", segment="champions", audiences=["new-visitor"])  # fmt: skip
    api.send("track", anonymousId="v-1", **first)
    api.send("track", anonymousId="v-1", **first)  # the same message again: a duplicate
    later = viewed("control", "2026-11-02T10:00:00Z", device="desktop")
    api.send("track", anonymousId="v-1", **later)  # a later exposure: the first one stays
    api.send("track", anonymousId="v-1", event="Order Completed", properties={"revenue": 10})
    stored = rows(api)
    assert len(stored) == 1
    row = stored[0]
    assert row["experiment_id"] == "hero-copy" and row["variation_id"] == "offer"
    assert row["exposed_at"] == 1_793_527_200_000  # 2026-11-01T10:00:00Z
    assert (row["device"], row["source"], row["visitor_type"], row["segment"]) == (
        "mobile", "newsletter", "new", "champions"
    )  # fmt: skip
    assert row["audiences"] == ["new-visitor"]
    profile = profile_id(api, "anonymous_id", "v-1")
    assert row["profile_id"] == profile
    assert assigned(api, profile) == {"hero-copy": "offer"}
    # Both exposures are events in the timeline; neither moved a behaviour counter.
    assert api.profile("anonymous_id", "v-1")["computed"]["events"] == 1


def test_each_experiment_and_profile_has_its_own_row(api: Api) -> None:
    api.batch(
        [
            {"type": "track", "anonymousId": "v-a", **viewed("offer", "2026-11-01T10:00:00Z")},
            {"type": "track", "anonymousId": "v-b", **viewed("control", "2026-11-01T10:00:00Z")},
            {"type": "track", "anonymousId": "v-a",
             **viewed("b", "2026-11-01T10:00:00Z", experiment="recs")},
        ]
    )  # fmt: skip
    found = {(r["experiment_id"], r["variation_id"]) for r in rows(api)}
    assert found == {("hero-copy", "offer"), ("hero-copy", "control"), ("recs", "b")}
    profile = profile_id(api, "anonymous_id", "v-a")
    assert assigned(api, profile) == {"hero-copy": "offer", "recs": "b"}


def test_in_one_batch_the_earliest_exposure_wins(api: Api) -> None:
    api.batch(
        [
            {"type": "track", "anonymousId": "v-2", **viewed("late", "2026-11-01T12:00:00Z")},
            {"type": "track", "anonymousId": "v-2", **viewed("early", "2026-11-01T09:00:00Z")},
        ]
    )
    assert [r["variation_id"] for r in rows(api)] == ["early"]


@pytest.mark.parametrize(
    "properties",
    [
        {"experiment_id": "hero-copy"},
        {"variation_id": "offer"},
        {"experiment_id": "", "variation_id": "offer"},
        {"experiment_id": 12, "variation_id": "offer"},
        {"experiment_id": "hero-copy", "variation_id": ["offer"]},
        {"experiment_id": "x" * 65, "variation_id": "offer"},  # can name no experiment
        {},
    ],
)
def test_an_exposure_that_names_no_arm_assigns_nothing(
    api: Api, properties: dict[str, Any]
) -> None:
    api.send("track", anonymousId="v-3", event=EXPERIMENT_VIEWED, properties=properties)
    assert api.stored_counts() == (1, 0)  # stored as an event all the same
    assert rows(api) == []


def test_an_event_of_another_name_assigns_nothing(api: Api) -> None:
    properties = viewed("offer", "2026-11-01T10:00:00Z")["properties"]
    api.send("track", anonymousId="v-4", event="Experience Viewed", properties=properties)
    api.send("page", anonymousId="v-4", name=EXPERIMENT_VIEWED, properties=properties)
    assert rows(api) == []


def test_what_an_assignment_keeps_is_bounded(api: Api) -> None:
    audiences = ["a" * 300, 5, None, *(f"aud-{n}" for n in range(300))]
    exposure = viewed("offer", "2026-11-01T10:00:00Z", device="d" * 300, source="s" * 300,
                      visitor_type="returning-and-more", segment="g" * 300,
                      audiences=audiences)  # fmt: skip
    api.send("track", anonymousId="v-5", **exposure)
    (row,) = rows(api)
    assert (len(row["device"]), len(row["source"]), len(row["segment"])) == (32, 64, 64)
    assert row["visitor_type"] == "returning-and-mo"
    assert len(row["audiences"]) == MAX_AUDIENCES
    assert row["audiences"][:2] == ["a" * 64, "aud-0"]  # ids only, each within 64


def test_a_browser_key_exposure_assigns_too(api: Api) -> None:
    """A shop's own client-side SDK reports its exposures the Segment way."""
    api.send_browser("track", anonymousId="v-6", **viewed("offer", "2026-11-01T10:00:00Z"))
    assert [r["variation_id"] for r in rows(api)] == ["offer"]


@pytest.mark.parametrize(
    ("anonymous_first", "expected"), [(True, "control"), (False, "offer")]
)  # fmt: skip
def test_a_merged_person_keeps_the_earliest_exposure(
    api: Api, anonymous_first: bool, expected: str
) -> None:
    early, late = "2026-11-01T10:00:00Z", "2026-11-03T10:00:00Z"
    api.send("identify", userId="cust-1", traits={"email": "c1@example.com"})
    api.send("track", anonymousId="phone",
             **viewed("control", early if anonymous_first else late, unit="phone"))  # fmt: skip
    api.send("track", userId="cust-1",
             **viewed("offer", late if anonymous_first else early, unit="cust-1"))  # fmt: skip
    before = {r["profile_id"]: r["variation_id"] for r in rows(api)}
    assert sorted(before.values()) == ["control", "offer"] and len(before) == 2
    phone = profile_id(api, "anonymous_id", "phone")
    assert assigned(api, phone) == {"hero-copy": "control"}
    api.send("identify", anonymousId="phone", userId="cust-1")  # the login merges them
    person = profile_id(api, "user_id", "cust-1")
    assert profile_id(api, "anonymous_id", "phone") == person
    assert assigned(api, person) == {"hero-copy": expected}
    after = {r["profile_id"]: r["variation_id"] for r in rows(api)}
    assert after == before  # both exposures stay visible, each under its own profile
    # A later exposure of the merged person changes nothing either.
    api.send("track", userId="cust-1", **viewed("other", "2026-11-05T10:00:00Z", unit="x"))
    assert assigned(api, person) == {"hero-copy": expected}


def test_the_awaited_read_answers_the_same(api: Api, backend: str) -> None:
    api.send("identify", userId="cust-2")
    api.send("track", anonymousId="tablet", **viewed("control", "2026-11-01T10:00:00Z"))
    api.send("track", userId="cust-2", **viewed("offer", "2026-11-02T10:00:00Z"))
    api.send("identify", anonymousId="tablet", userId="cust-2")
    person = profile_id(api, "user_id", "cust-2")
    # A database of its own: the app's pool serves the test client's event loop, not this one.
    db = Database(api.services.settings)
    store = ExperimentStore(db)
    workspace = api.keys.workspace.id

    async def both() -> tuple[dict[str, str], dict[str, str]]:
        async with db.async_reads_open():
            assert (db.async_reads is not None) == (backend == "postgresql")
            return (
                await store.assigned_awaited(workspace, person),
                await store.assigned_awaited(workspace, person + 10_000_000),
            )

    try:
        awaited, nobody = asyncio.run(both())
        direct = store.assigned(workspace, person)
    finally:
        db.dispose()
    assert awaited == direct == {"hero-copy": "control"}
    assert nobody == {}


def test_erasing_a_person_deletes_their_assignments(api: Api) -> None:
    api.send("identify", userId="cust-3", traits={"email": "c3@example.com"})
    api.send("track", anonymousId="laptop", **viewed("control", "2026-11-01T10:00:00Z"))
    api.send("track", userId="cust-3", **viewed("offer", "2026-11-02T10:00:00Z"))
    api.send("track", userId="cust-3", **viewed("b", "2026-11-02T10:00:00Z", experiment="recs"))
    api.send("identify", anonymousId="laptop", userId="cust-3")
    api.send("track", anonymousId="someone-else", **viewed("offer", "2026-11-01T10:00:00Z"))
    api.settle()
    assert len(rows(api)) == 4
    erased = api.client.delete("/v1/profiles/user_id/cust-3", headers=api.secret_auth)
    assert erased.status_code == 200, erased.text
    assert erased.json()["deleted"]["experiment_assignments"] == 3
    left = rows(api)
    assert len(left) == 1 and left[0]["profile_id"] == profile_id(
        api, "anonymous_id", "someone-else"
    )


def test_deleting_an_experiment_deletes_its_assignments(api: Api) -> None:
    for body, path in (
        ({"id": "home-hero", "kind": "banner"}, "/v1/placements"),
        ({"id": "loyalty", "placement": "home-hero",
          "variants": [{"id": "a", "content": {"x": 1}}]}, "/v1/experiences"),
        ({"id": "hero-copy", "name": "Hero copy", "kind": "experience", "experience": "loyalty",
          "hypothesis": {"what": "w", "who": "w", "why": "w"},
          "variations": [{"id": "control"}, {"id": "offer", "variant": "a"}],
          "goals": [{"id": "orders", "event": "Order Completed"}]}, "/v1/experiments"),
    ):  # fmt: skip
        assert api.client.post(path, json=body, headers=api.secret_auth).status_code == 201
    api.send("track", anonymousId="v-7", **viewed("offer", "2026-11-01T10:00:00Z"))
    api.send("track", anonymousId="v-7", **viewed("b", "2026-11-01T10:00:00Z", experiment="recs"))
    counts = api.services.experiments.store.assignment_counts(api.keys.workspace.id, "hero-copy")
    assert counts == {"offer": 1}
    gone = api.client.delete("/v1/experiments/hero-copy", headers=api.secret_auth)
    assert gone.json() == {"deleted": "hero-copy", "assignments": 1}
    assert [r["experiment_id"] for r in rows(api)] == ["recs"]


_text = st.text(max_size=80) | st.none() | st.integers() | st.lists(st.text(max_size=5), max_size=3)


@given(
    experiment=_text,
    variation=_text,
    device=_text,
    audiences=_text | st.lists(_text, max_size=5),
)
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_any_exposure_is_stored_and_assigns_at_most_once(
    api: Api, experiment: Any, variation: Any, device: Any, audiences: Any
) -> None:
    properties = {"experiment_id": experiment, "variation_id": variation, "device": device,
                  "audiences": audiences}  # fmt: skip
    visitor = f"fuzz-{uuid.uuid4().hex}"
    answer = api.client.post(
        "/v1/batch",
        json={
            "batch": [
                {
                    "type": "track",
                    "anonymousId": visitor,
                    "event": EXPERIMENT_VIEWED,
                    "properties": properties,
                }
                for _ in range(2)
            ]
        },
        headers=api.server_auth,
    )
    assert answer.status_code == 200, answer.text
    a, i = t.experiment_assignments.c, t.identities.c
    with api.services.db.read() as conn:
        found = conn.execute(
            select(a.experiment_id, a.variation_id)
            .select_from(t.experiment_assignments.join(t.identities, i.profile_id == a.profile_id))
            .where(a.workspace_id == api.keys.workspace.id, i.value == visitor)
        ).all()
    named = isinstance(experiment, str) and 0 < len(experiment) <= 64
    if named and isinstance(variation, str) and 0 < len(variation) <= 64:
        assert found == [(experiment, variation)]
    else:
        assert found == []
