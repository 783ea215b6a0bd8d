"""A person's audiences are read on PostgreSQL through psycopg's async pool (the event loop
never waits on the network), and a profile row is left alone by events Relevo records about the
person, so that a new audience's members are not judged a second time for nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from relevo.api.app import create_app
from relevo.settings import Settings
from relevo.storage import schema as t
from relevo.storage.async_reads import APPLICATION_NAME
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
