"""Every list pages with a maximum page size, no parameter raises a documented limit, per-person
state has caps whose overflow is counted, and quarantine has a retention: through HTTP on both
backends."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from relevo.profiles.state import MAX_EVENT_NAMES
from relevo.profiles.traits import MAX_TRAITS
from relevo.storage import schema as t
from tests.conftest import Api
from tests.test_recs_api import _train


def _at(n: int) -> str:
    return (datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=n)).isoformat()


def _pages(api: Api, path: str, key: str, limit: int) -> list[Any]:
    seen: list[Any] = []
    cursor = None
    while True:
        page = api.get(path, limit=limit, **({"cursor": cursor} if cursor else {}))
        assert len(page[key]) <= limit
        seen += page[key]
        cursor = page["next_cursor"]
        if cursor is None:
            return seen


def test_merges_and_trait_history_page(api: Api) -> None:
    for n in range(7):
        api.send("identify", anonymousId=f"dev-{n}", traits={"n": n}, timestamp=_at(n))
        api.send("identify", anonymousId=f"dev-{n}", userId="pages", timestamp=_at(n + 10))
    api.settle()
    merges = _pages(api, "/v1/profiles/user_id/pages/merges", "merges", 3)
    assert len(merges) == 6 and all(m["status"] == "merged" for m in merges)
    everything = api.get("/v1/profiles/user_id/pages/merges", limit=1000)["merges"]
    assert merges == everything
    changes = _pages(api, "/v1/profiles/user_id/pages/traits/history", "changes", 2)
    assert [c["new_value"] for c in changes] == list(range(7))
    too_big = api.client.get(
        "/v1/profiles/user_id/pages/merges?limit=1001", headers=api.secret_auth
    )
    assert too_big.status_code == 400 and "limit" in too_big.json()["error"]["message"]
    bad = api.client.get("/v1/profiles/user_id/pages/merges?cursor=x", headers=api.secret_auth)
    assert bad.status_code == 400 and "cursor" in bad.json()["error"]["message"]


def test_account_members_page(api: Api) -> None:
    api.batch(
        [
            {"type": "group", "userId": f"m{n}", "groupId": "big-co", "timestamp": _at(n)}
            for n in range(5)
        ]
    )
    api.settle()
    seen = _pages(api, "/v1/groups/big-co", "members", 2)
    assert [m["user_id"] for m in seen] == [f"m{n}" for n in reversed(range(5))]
    account = api.get("/v1/groups/big-co", limit=2)
    assert account["members_total"] == 5 and account["complete"] is True


def test_no_parameter_raises_the_documented_limit(api: Api) -> None:
    api.batch(
        [
            {
                "type": "track",
                "event": "Product Viewed",
                "userId": "l",
                "properties": {"product_id": "p"},
            }
        ]
    )
    api.settle()
    _train(api)

    def recommend(**body: Any) -> Any:
        return api.client.post("/v1/recommendations", json=body, headers=api.secret_auth)

    over = recommend(strategy="trending", limit=201)
    assert over.status_code == 400 and "at most 200" in over.json()["error"]["message"]
    candidates = [f"c{n}" for n in range(300)]
    reranked = recommend(strategy="rerank", context={"candidates": candidates})
    assert reranked.status_code == 200 and len(reranked.json()["items"]) == 300
    fewer = recommend(strategy="rerank", context={"candidates": candidates}, limit=5)
    assert len(fewer.json()["items"]) == 5
    more = recommend(strategy="rerank", context={"candidates": candidates[:3]}, limit=4)
    assert more.status_code == 400 and "3 candidates" in more.json()["error"]["message"]
    too_many = recommend(strategy="rerank", context={"candidates": [f"c{n}" for n in range(1001)]})
    assert too_many.status_code == 400


def test_per_person_caps_count_their_overflow(api: Api) -> None:
    names = [f"Event {n}" for n in range(MAX_EVENT_NAMES + 7)]
    for start in range(0, len(names), 400):
        api.batch(
            [{"type": "track", "event": e, "userId": "capped"} for e in names[start : start + 400]]
        )
    traits = {f"t{n}": n for n in range(MAX_TRAITS + 3)}
    api.send("identify", userId="capped", traits=traits)
    profile = api.profile("user_id", "capped")
    assert len(profile["computed"]["event_counts"]) == MAX_EVENT_NAMES
    assert len(profile["traits"]) == MAX_TRAITS
    assert profile["computed"]["overflow"] == {"event_names": 7, "traits": 3}
    assert profile["computed"]["events"] == len(names) + 1  # every event still counted


def test_quarantine_is_purged_after_its_retention(api: Api) -> None:
    api.batch([{"type": "track", "userId": "q-old"}, {"type": "track", "userId": "q-new"}])
    workspace = api.keys.workspace.id
    q = t.quarantine.c
    with api.services.db.write() as conn:
        conn.execute(
            t.quarantine.update()
            .where(q.workspace_id == workspace, q.user_id == "q-old")
            .values(received_at=int((time.time() - 31 * 86_400) * 1000))
        )
    api.services.housekeeping()  # the materializer's lease holder runs it every ten minutes
    with api.services.db.read() as conn:
        left = conn.execute(
            select(q.user_id).where(q.workspace_id == workspace).order_by(q.id)
        ).scalars()
        assert list(left) == ["q-new"]
        orphans = conn.execute(
            select(func.count())
            .select_from(t.quarantine_identities)
            .where(t.quarantine_identities.c.value == "q-old")
        ).scalar_one()
    assert orphans == 0


def test_a_link_token_is_no_key(api: Api) -> None:
    api.send("identify", userId="linked")
    api.settle()
    token = api.client.post(
        "/v1/identity-links",
        json={"identity": {"kind": "user_id", "value": "linked"}},
        headers=api.secret_auth,
    ).json()["links"][0]["token"]
    for headers in ({"Authorization": f"Bearer {token}"}, api.basic(token)):
        assert api.client.get("/v1/profiles/user_id/linked", headers=headers).status_code == 401
        answer = api.client.post(
            "/v1/recommendations",
            json={"strategy": "trending", "identity": {"kind": "user_id", "value": "linked"}},
            headers=headers,
        )
        assert answer.status_code == 401
