"""Real server processes: kill -9 under load, concurrent merges across workers, and the official
Segment client. Each test runs on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import contextlib
import os
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, or_, select, text

from relevo.audiences.changes import ENTERED, EXITED
from relevo.settings import Settings
from relevo.storage import schema as t
from tests.databases import drop_schema, engine_for, make_settings, wait_for_profiles
from tests.real_server import RELEVO, RealServer, create_workspace, environment

pytestmark = pytest.mark.slow


@pytest.fixture
def settings(backend: str, tmp_path: Path) -> Iterator[Settings]:
    settings = make_settings(backend, str(tmp_path))
    yield settings
    drop_schema(settings)


def _basic(write_key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()}


def _batch(prefix: str, n: int) -> list[dict[str, Any]]:
    kinds = ["page", "track", "identify"]
    messages = []
    for i in range(n):
        kind = kinds[i % 3]
        message: dict[str, Any] = {
            "type": kind,
            "anonymousId": f"visitor-{hash((prefix, i)) % 200}",
            "messageId": f"{prefix}-{i}",
        }
        if kind == "track":
            message.update(event="Product Viewed", properties={"product_id": str(i % 50)})
        if kind == "identify":
            message["traits"] = {"seen": i}
        messages.append(message)
    return messages


def test_kill_9_under_load_loses_no_acknowledged_event(settings: Settings) -> None:
    keys = create_workspace(settings, "crash")
    server = RealServer(settings, workers=2)
    acknowledged: set[str] = set()
    attempted: list[list[dict[str, Any]]] = []
    lock = threading.Lock()
    stop = threading.Event()

    def client(n: int) -> None:
        with httpx.Client(
            base_url=server.url, headers=_basic(keys["server_write_key"]), timeout=10
        ) as http:
            for round_ in range(10_000):
                if stop.is_set():
                    return
                batch = _batch(f"c{n}-r{round_}", 50)
                with lock:
                    attempted.append(batch)
                try:
                    response = http.post("/v1/batch", json={"batch": batch})
                except httpx.HTTPError:
                    return  # the server died mid-request: not acknowledged
                if response.status_code == 200:
                    with lock:
                        acknowledged.update(m["messageId"] for m in batch)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(2.5)
    server.kill()  # while requests are in flight
    stop.set()
    for thread in threads:
        thread.join()
    assert len(acknowledged) > 1000

    engine = engine_for(settings)
    with engine.connect() as conn:
        stored = [r[0] for r in conn.execute(select(t.events.c.message_id))]
    assert len(stored) == len(set(stored)), "an event was stored twice"
    assert acknowledged <= set(stored), (
        f"{len(acknowledged - set(stored))} acknowledged events lost"
    )

    # Restart and retry everything that was attempted: idempotent, and profiles catch up.
    server = RealServer(settings, workers=2)
    try:
        with httpx.Client(
            base_url=server.url, headers=_basic(keys["server_write_key"]), timeout=30
        ) as http:
            for batch in attempted:
                assert http.post("/v1/batch", json={"batch": batch}).status_code == 200
        distinct = {m["messageId"] for batch in attempted for m in batch}
        # Not counting what the server's audience job records (Entered/Exited built-ins).
        sent = or_(t.events.c.event.is_(None), t.events.c.event.not_in((ENTERED, EXITED)))
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).where(sent)).scalar() == len(distinct)
        wait_for_profiles(engine)
        with engine.connect() as conn:
            computed_events = sum(
                row[0].get("events", 0)
                for row in conn.execute(
                    select(t.profiles.c.computed).where(t.profiles.c.merged_into.is_(None))
                )
            )
        assert computed_events == len(distinct)
    finally:
        server.stop()
        engine.dispose()


def test_concurrent_merges_across_workers_make_one_person(settings: Settings) -> None:
    keys = create_workspace(settings, "merge")
    server = RealServer(settings, workers=2)
    try:
        auth = _basic(keys["server_write_key"])
        with httpx.Client(base_url=server.url, headers=auth) as http:
            for i in range(16):  # sixteen devices browse anonymously first
                http.post(
                    "/v1/batch",
                    json={
                        "batch": [
                            {
                                "type": "track",
                                "event": "Product Viewed",
                                "anonymousId": f"dev-{i}",
                                "properties": {"product_id": str(i)},
                            }
                        ]
                    },
                ).raise_for_status()
        barrier = threading.Barrier(8)
        errors: list[str] = []

        def login(n: int) -> None:
            with httpx.Client(base_url=server.url, headers=auth, timeout=30) as http:
                barrier.wait()
                for i in (2 * n, 2 * n + 1, 2 * n):  # the same link sent twice, as a retry would
                    response = http.post(
                        "/v1/identify", json={"userId": "shared-user", "anonymousId": f"dev-{i}"}
                    )
                    if response.status_code != 200:
                        errors.append(response.text)

        threads = [threading.Thread(target=login, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []

        engine = engine_for(settings)
        wait_for_profiles(engine)
        secret = {"Authorization": f"Bearer {keys['secret_key']}"}
        with httpx.Client(base_url=server.url, headers=secret) as http:
            ids = {
                http.get(f"/v1/profiles/anonymous_id/dev-{i}").json()["profile_id"]
                for i in range(16)
            }
            profile = http.get("/v1/profiles/user_id/shared-user").json()
            merges = http.get("/v1/profiles/user_id/shared-user/merges").json()["merges"]
        assert ids == {profile["profile_id"]}
        assert profile["computed"]["product_views"] == 16
        assert profile["computed"]["events"] == 16 + 24
        merged = [m["merged_id"] for m in merges if m["status"] == "merged"]
        # The first device identified keeps its profile; the fifteen others merge into it, once.
        assert len(merged) == len(set(merged)) == 15
        with engine.connect() as conn:
            stale = conn.execute(
                text(
                    "SELECT count(*) FROM identities i JOIN profiles p ON p.id = i.profile_id "
                    "WHERE p.merged_into IS NOT NULL"
                )
            ).scalar()
            users = conn.execute(
                text("SELECT count(DISTINCT profile_id) FROM identities WHERE kind = 'user_id'")
            ).scalar()
        assert stale == 0 and users == 1
        engine.dispose()
    finally:
        server.stop()


def test_two_customers_identified_at_once_on_one_device_stay_apart(settings: Settings) -> None:
    keys = create_workspace(settings, "guard")
    server = RealServer(settings, workers=2)
    try:
        auth = _basic(keys["server_write_key"])
        httpx.post(
            f"{server.url}/v1/page", json={"anonymousId": "kiosk"}, headers=auth
        ).raise_for_status()
        barrier = threading.Barrier(2)

        def login(user: str) -> None:
            barrier.wait()
            httpx.post(
                f"{server.url}/v1/identify",
                json={"userId": user, "anonymousId": "kiosk"},
                headers=auth,
            ).raise_for_status()

        threads = [threading.Thread(target=login, args=(u,)) for u in ("ulla", "ulf")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        secret = {"Authorization": f"Bearer {keys['secret_key']}"}
        with httpx.Client(base_url=server.url, headers=secret) as http:
            ulla = http.get("/v1/profiles/user_id/ulla").json()
            ulf = http.get("/v1/profiles/user_id/ulf").json()
            refused = [
                m
                for u in ("ulla", "ulf")
                for m in http.get(f"/v1/profiles/user_id/{u}/merges").json()["merges"]
                if m["status"] == "refused"
            ]
        assert ulla["profile_id"] != ulf["profile_id"]
        assert refused and refused[0]["reason"] == "different_user_ids"
    finally:
        server.stop()


def test_official_segment_python_client(settings: Settings) -> None:
    from segment.analytics.client import Client

    keys = create_workspace(settings, "segment")
    server = RealServer(settings, workers=1)
    errors: list[Any] = []
    client = Client(
        keys["server_write_key"],
        host=server.url,
        gzip=True,
        max_retries=0,
        on_error=lambda error, batch: errors.append(error),
    )
    try:
        anonymous = f"anon-{uuid.uuid4().hex[:8]}"
        client.page(
            anonymous_id=anonymous,
            category="Shop",
            name="Home",
            properties={"url": "https://shop.example/?utm_source=newsletter&utm_medium=email"},
        )
        client.track(
            anonymous_id=anonymous,
            event="Product Viewed",
            properties={"product_id": "sku-1", "category": "Lamps", "brand": "Lumo", "price": 49.0},
        )
        client.identify(
            user_id="seg-1",
            anonymous_id=anonymous,
            traits={"email": "Sam@Example.com", "name": "Sam"},
        )
        client.track(
            user_id="seg-1",
            event="Order Completed",
            properties={
                "order_id": "o-1",
                "revenue": 49.0,
                "products": [{"product_id": "sku-1", "category": "Lamps", "price": 49.0}],
            },
        )
        client.flush()
        client.join()
        assert errors == []
        secret = {"Authorization": f"Bearer {keys['secret_key']}"}
        deadline = time.monotonic() + 10
        with httpx.Client(base_url=server.url, headers=secret) as http:
            while True:
                profile = http.get("/v1/profiles/email/sam@example.com").json()
                if profile.get("computed", {}).get("events") == 4 or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            events = http.get("/v1/profiles/user_id/seg-1/events").json()["events"]
        # The server's audience job may have recorded their built-in audiences meanwhile.
        events = [e for e in events if e["event"] not in (ENTERED, EXITED)]
        assert [(e["type"], e["event"]) for e in reversed(events)] == [
            ("page", "Home"),
            ("track", "Product Viewed"),
            ("identify", None),
            ("track", "Order Completed"),
        ]
        assert all(e["message"]["context"]["library"]["name"] == "analytics-python" for e in events)
        computed = profile["computed"]
        assert profile["traits"] == {"email": "Sam@Example.com", "name": "Sam"}
        assert {(i["kind"], i["value"]) for i in profile["identities"]} == {
            ("anonymous_id", anonymous),
            ("user_id", "seg-1"),
            ("email", "sam@example.com"),
        }
        assert (computed["page_views"], computed["product_views"], computed["orders"]) == (1, 1, 1)
        assert computed["revenue"] == 49.0
        assert computed["top_categories"][0]["name"] == "Lamps"
        assert computed["first_touch"]["channel"] == "email"
    finally:
        server.stop()


def test_workers_share_keep_alive_connections_and_a_dead_worker_is_replaced(
    settings: Settings,
) -> None:
    server = RealServer(settings, workers=2)
    try:
        # Sixteen keep-alive clients opened at once, as an SDK pool or a load balancer does:
        # each worker's own SO_REUSEPORT socket gets a share of them.
        clients = [httpx.Client(base_url=server.url, timeout=10) for _ in range(16)]
        pids = {c.get("/healthz").json()["worker_pid"] for c in clients}
        for c in clients:
            c.close()
        assert len(pids) == 2

        victim = pids.pop()
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 20
        seen: set[int] = set()
        while time.monotonic() < deadline and len(seen - {victim}) < 2:
            with (
                contextlib.suppress(httpx.HTTPError),
                httpx.Client(base_url=server.url, timeout=5) as fresh,
            ):
                seen.add(fresh.get("/healthz").json()["worker_pid"])
            time.sleep(0.05)
        assert victim not in seen
        assert len(seen) == 2  # the survivor and the replacement both answer
    finally:
        server.stop()


def _orders(n_people: int) -> list[dict[str, Any]]:
    return [
        {
            "type": "track",
            "event": "Order Completed",
            "userId": f"buyer-{p}",
            "messageId": f"order-{p}-{k}",
            "timestamp": f"2026-03-{1 + k:02d}T10:00:00Z",
            "properties": {
                "order_id": f"order-{p}-{k}",
                "products": [{"product_id": f"sku-{(p + k) % 7}"}, {"product_id": "sku-mug"}],
            },
        }
        for p in range(n_people)
        for k in range(3)
    ]


def test_new_model_versions_swap_in_under_load_without_failed_requests(
    settings: Settings, tmp_path: Path
) -> None:
    settings = settings.model_copy(
        update={"models_dir": str(tmp_path / "models"), "models_check_seconds": 0.1}
    )
    settings.model_fields_set.update({"models_dir", "models_check_seconds"})
    keys = create_workspace(settings, "swap")
    env = environment(settings)

    def train() -> None:
        subprocess.run([RELEVO, "train", "--workspace", "swap"], env=env, check=True,
                       capture_output=True)  # fmt: skip

    server = RealServer(settings, workers=2)
    try:
        posted = httpx.post(
            f"{server.url}/v1/batch",
            json={"batch": _orders(30)},
            headers=_basic(keys["server_write_key"]),
        )
        assert posted.status_code == 200, posted.text
        train()
        statuses: list[int] = []
        versions: list[str | None] = []
        stop = threading.Event()

        def ask() -> None:
            body = {"strategy": "bought_together", "context": {"product_id": "sku-1"}}
            auth = {"Authorization": f"Bearer {keys['secret_key']}"}
            with httpx.Client(base_url=server.url, timeout=10) as http:
                while not stop.is_set():
                    response = http.post("/v1/recommendations", json=body, headers=auth)
                    statuses.append(response.status_code)
                    if response.status_code == 200:
                        versions.append(response.json()["model_version"])

        askers = [threading.Thread(target=ask) for _ in range(4)]
        for thread in askers:
            thread.start()
        try:
            time.sleep(0.5)
            train()  # two more versions while requests keep coming
            train()
            (pointer,) = (tmp_path / "models").glob("*/CURRENT")
            newest = pointer.read_text().strip()
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and versions[-20:].count(newest) < 20:
                time.sleep(0.1)
        finally:
            stop.set()
            for thread in askers:
                thread.join()
        assert statuses and set(statuses) == {200}
        assert versions[-20:] == [newest] * 20  # every worker ended on the newest version
        assert len(set(versions) - {None}) >= 2  # and they served more than one on the way
    finally:
        server.stop()


def test_the_audience_job_runs_beside_the_materializer_not_in_a_worker(settings: Settings) -> None:
    """`serve --workers 2`: the job that records `Audience Entered` judges thousands of profiles
    a run, so it runs in the supervisor with the materializer, where it holds no request's
    event loop; the people still enter their audiences."""
    keys = create_workspace(settings, "audience-job")
    server = RealServer(settings, workers=2)
    engine = engine_for(settings)
    try:
        secret = {"Authorization": f"Bearer {keys['secret_key']}"}
        with httpx.Client(base_url=server.url, timeout=10) as http:
            saved = http.post(
                "/v1/audiences",
                headers=secret,
                json={
                    "id": "paywalled",
                    "name": "Saw a paywall",
                    "condition": {"$event": {"name": "Paywall Viewed", "count": {"$gte": 1}}},
                },
            )
            assert saved.status_code == 201, saved.text
            sent = http.post(
                "/v1/track",
                headers=_basic(keys["server_write_key"]),
                json={"userId": "reader", "event": "Paywall Viewed", "messageId": "pw-1"},
            )
            assert sent.status_code == 200, sent.text
            entered: list[str] = []
            deadline = time.monotonic() + 30
            while "paywalled" not in entered and time.monotonic() < deadline:
                events = http.get("/v1/profiles/user_id/reader/events", headers=secret).json()
                entered = [
                    e["message"]["properties"]["audience_id"]
                    for e in events.get("events", [])
                    if e["event"] == "Audience Entered"
                ]
                time.sleep(0.2)
        assert entered.count("paywalled") == 1  # and built-ins (new-visitor), as in any run
        with engine.connect() as conn:
            owner = conn.execute(select(t.audience_job_lease.c.owner)).scalar_one()
        assert f"-{server.process.pid}-" in owner, owner  # the supervisor's pid
    finally:
        server.stop()
        engine.dispose()
