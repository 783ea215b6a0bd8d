"""A person's audiences are read on PostgreSQL through psycopg's async pool (the event loop
never waits on the network), and a profile row is left alone by events Relevo records about the
person, so that a new audience's members are not judged a second time for nothing."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from relevo.api.app import create_app
from relevo.settings import Settings
from relevo.storage import schema as t
from relevo.storage.async_reads import APPLICATION_NAME
from relevo.storage.database import Database
from relevo.storage.interaction_store import InteractionStore
from tests.conftest import Api


def _audience_ids(api: Api, user: str) -> list[str]:
    found = api.get(f"/v1/profiles/user_id/{user}/audiences")
    return sorted(a["id"] for a in found["audiences"])


def test_postgresql_reads_a_persons_audiences_through_the_async_pool(
    api: Api, backend: str
) -> None:
    if backend == "sqlite":
        pytest.skip("SQLite's read is local and synchronous: there is no async pool")
    api.send("identify", userId="async-1", traits={"email": "async-1@example.com", "plan": "pro"})
    api.send("track", userId="async-1", event="Order Completed", properties={"revenue": 40})
    api.settle()
    created = api.client.post(
        "/v1/audiences",
        json={"id": "pro-plan", "name": "Pro", "condition": {"traits.plan": "pro"}},
        headers=api.secret_auth,
    )
    assert created.status_code == 201, created.text
    before = _audience_ids(api, "async-1")
    assert "pro-plan" in before and "customer" in before
    with api.services.db.read() as conn:
        last_queries = conn.execute(
            text("SELECT query FROM pg_stat_activity WHERE application_name = :n"),
            {"n": APPLICATION_NAME},
        ).scalars()
        # The answer above came through the pool: its connection last ran the person's read.
        assert any("FROM identities JOIN profiles" in q for q in last_queries)

    missing = api.client.get("/v1/profiles/user_id/nobody-here/audiences", headers=api.secret_auth)
    assert missing.status_code == 404 and "nobody-here" in missing.json()["error"]["message"]


def test_an_async_read_survives_the_database_dropping_its_connections(
    api: Api, backend: str
) -> None:
    if backend == "sqlite":
        pytest.skip("SQLite's read is local and synchronous: there is no async pool")
    api.send("identify", userId="async-2", traits={"plan": "pro"})
    api.settle()
    before = _audience_ids(api, "async-2")
    with api.services.db.write() as conn:  # as a restarted or failed-over server does
        dropped = conn.execute(
            text(
                "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = :n) AS terminated"
            ),
            {"n": APPLICATION_NAME},
        ).scalar_one()
    assert dropped >= 1
    for _ in range(3):  # every connection of the pool may be a dead one
        assert _audience_ids(api, "async-2") == before


def _row(api: Api, user: str) -> tuple[int, str]:
    p, i = t.profiles.c, t.identities.c
    with api.services.db.read() as conn:
        found = conn.execute(
            select(p.updated_at, p.computed)
            .join(t.identities, i.profile_id == p.id)
            .where(i.kind == "user_id", i.value == user, i.workspace_id == api.keys.workspace.id)
        ).one()
    return int(found[0]), str(found[1])


def test_events_relevo_records_about_a_person_leave_the_profile_row_as_it_is(api: Api) -> None:
    api.send("track", userId="sys-1", event="Product Viewed", properties={"product_id": "p1"})
    api.settle()
    before = _row(api, "sys-1")
    api.send("track", userId="sys-1", event="Audience Entered", properties={"audience": "x"})
    api.send("track", userId="sys-1", event="Recommendation Shown", properties={"items": ["a"]})
    api.settle()
    assert _row(api, "sys-1") == before  # not rewritten: updated_at did not move
    timeline = api.get("/v1/profiles/user_id/sys-1/events")["events"]
    assert {"Audience Entered", "Recommendation Shown"} <= {e.get("event") for e in timeline}
    api.send("track", userId="sys-1", event="Product Viewed", properties={"product_id": "p2"})
    api.settle()
    after = _row(api, "sys-1")
    assert after[0] >= before[0] and after[1] != before[1]  # the person's own event folds


def test_a_database_that_does_not_answer_gets_503_not_500(tmp_path: Path) -> None:
    # Port 9 (discard) has no server: every connection is refused, as while PostgreSQL restarts.
    settings = Settings(
        database_url="postgresql+psycopg://postgres@127.0.0.1:9/test",
        run_materializer=False,
        models_dir=str(tmp_path / "models"),
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        answer = client.get("/v1/profiles/user_id/u-1/audiences", headers=Api.basic("sk_any"))
    assert answer.status_code == 503, answer.text
    assert answer.headers["Retry-After"] == "1"
    assert answer.json()["error"]["code"] == "unavailable"


def test_a_visitors_recent_product_events_are_the_same_awaited_or_not(
    api: Api, backend: str
) -> None:
    """What a decision's recommendation blocks read of the visitor (awaited through the pool
    on PostgreSQL) is what the synchronous read gives: the same events, newest first, with
    their properties."""
    api.batch(
        [
            {"type": "track", "anonymousId": "seen-1", "event": event, "timestamp": stamp,
             "properties": {"product_id": product, "price": 5}}
            for event, product, stamp in [
                ("Product Viewed", "a", "2026-11-01T10:00:00Z"),
                ("Product Added", "b", "2026-11-01T10:05:00Z"),
                ("Page Engaged", "c", "2026-11-01T10:06:00Z"),  # not a product signal
                ("Product Viewed", "c", "2026-11-01T10:07:00Z"),
            ]
        ]
    )  # fmt: skip
    api.settle()
    # A database of its own: the app's pool serves the test client's event loop, not this one.
    db = Database(api.services.settings)
    store = InteractionStore(db)
    workspace = api.keys.workspace.id
    identity = ("anonymous_id", "seen-1")

    Signals = tuple[int | None, list[tuple[int, str, Any]]]

    async def both() -> tuple[Signals, Signals, Signals]:
        async with db.async_reads_open():
            assert (db.async_reads is not None) == (backend == "postgresql")
            awaited = await store.visitor_signals_awaited(workspace, identity, 10)
            nobody = ("anonymous_id", "nobody")
            unknown = await store.visitor_signals_awaited(workspace, nobody, 10)
        return awaited, unknown, store.visitor_signals(workspace, identity, 10)

    try:
        awaited, unknown, direct = asyncio.run(both())
    finally:
        db.dispose()
    assert awaited == direct
    profile_id, events = direct
    assert profile_id is not None
    assert [(e[1], e[2]["product_id"]) for e in events] == [
        ("Product Viewed", "c"), ("Product Added", "b"), ("Product Viewed", "a")
    ]  # fmt: skip
    assert unknown == (None, [])
