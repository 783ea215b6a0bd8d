"""The audience job through HTTP on both backends: `Audience Entered` / `Audience Exited` in
the timeline, for saved and built-in audiences alike, signed webhook deliveries (saved
audiences only) retried with back-off and shown, nothing left of them after an erasure."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import func, select
from standardwebhooks.webhooks import Webhook

from relevo.audiences import job as job_module
from relevo.audiences.builtins import BUILTIN_IDS
from relevo.audiences.job import CHUNK_PROFILES, AudienceJob, AudienceJobThread
from relevo.storage import schema as t
from tests.conftest import Api, hold_audience_job


class Receiver:
    """A webhook endpoint: answers 500 to the first ``failures`` requests, then 204."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.received: list[tuple[bytes, dict[str, str]]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                receiver.received.append((body, {k.lower(): v for k, v in self.headers.items()}))
                failed = len(receiver.received) <= receiver.failures
                self.send_response(500 if failed else 204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver(failures=1)
    yield found
    found.server.shutdown()
    found.server.server_close()


def _timeline(api: Api, user: str) -> list[tuple[str, Any]]:
    events = api.get(f"/v1/profiles/user_id/{user}/events")["events"]
    return [(e["event"], e["message"].get("properties", {}).get("audience_id")) for e in events]


def test_entered_exited_and_signed_webhooks(api: Api, receiver: Receiver) -> None:
    body = {
        "id": "paywall-2",
        "name": "Paywall twice this week",
        "condition": {"$event": {"name": "Paywall Viewed", "within": "7d", "count": {"$gte": 2}}},
        "webhook_url": receiver.url,
    }
    created = api.client.post("/v1/audiences", json=body, headers=api.secret_auth).json()
    secret = created["webhook"]["secret"]
    assert secret.startswith("whsec_")
    for _ in range(2):
        api.send("track", userId="reader", event="Paywall Viewed")
    api.send("identify", userId="reader", traits={"email": "reader@example.com"})
    api.send("track", userId="other", event="Paywall Viewed")
    api.settle()
    job = api.services.audience_job
    job.run_once()
    api.settle()
    assert ("Audience Entered", "paywall-2") in _timeline(api, "reader")
    assert ("Audience Entered", "paywall-2") not in _timeline(api, "other")
    # Entering is recorded once, however often the job runs.
    job.run_once()
    assert _timeline(api, "reader").count(("Audience Entered", "paywall-2")) == 1
    # The first attempt failed (500): the delivery waits for its back-off, then succeeds.
    shown = api.get("/v1/audiences/paywall-2/deliveries")["deliveries"]
    assert [(d["status"], d["attempts"]) for d in shown] == [("pending", 1)]
    assert "HTTP Error 500" in shown[0]["last_error"]
    job.deliver(int(time.time() * 1000) + 6_000)
    shown = api.get("/v1/audiences/paywall-2/deliveries")["deliveries"]
    assert [(d["status"], d["attempts"]) for d in shown] == [("delivered", 2)]
    assert len(receiver.received) == 2
    body_bytes, headers = receiver.received[-1]
    message = Webhook(secret).verify(body_bytes, headers)  # raises unless the signature holds
    assert message["type"] == "audience.entered"
    assert message["data"]["audience_id"] == "paywall-2"
    assert message["data"]["email"] == "reader@example.com"
    assert receiver.received[0][1]["webhook-id"] == headers["webhook-id"]  # one id for retries
    forged = {**headers, "webhook-signature": "v1,AAAA"}
    with pytest.raises(Exception):  # noqa: B017 (the library's own verification error)
        Webhook(secret).verify(body_bytes, forged)
    # A stricter definition: the reader leaves (the definition changed, not the profile).
    stricter = {**body, "condition": {"$event": {"name": "Paywall Viewed", "count": {"$gte": 5}}}}
    del stricter["id"]
    changed = api.client.put("/v1/audiences/paywall-2", json=stricter, headers=api.secret_auth)
    assert changed.json()["webhook"]["secret"] == secret  # the secret is kept
    job.run_once()
    api.settle()
    assert ("Audience Exited", "paywall-2") in _timeline(api, "reader")
    # Relevo's own events moved nothing: the reader still has their two paywall views.
    profile = api.profile("user_id", "reader")
    assert profile["computed"]["event_counts"] == {"Paywall Viewed": 2}


def test_an_erased_person_leaves_no_membership_or_delivery(api: Api, receiver: Receiver) -> None:
    body = {
        "id": "all-readers",
        "name": "Readers",
        "condition": {"$event": {"name": "Paywall Viewed"}},
        "webhook_url": receiver.url,
    }
    assert api.client.post("/v1/audiences", json=body, headers=api.secret_auth).status_code == 201
    api.send("track", userId="gone", event="Paywall Viewed", context={"traits": {}})
    api.send("identify", userId="gone", traits={"email": "gone@example.com"})
    api.settle()
    api.services.audience_job.run_once()

    def left() -> tuple[int, int]:
        with api.services.db.read() as conn:
            members = conn.execute(
                select(func.count())
                .select_from(t.audience_members)
                .where(t.audience_members.c.workspace_id == api.keys.workspace.id)
            ).scalar_one()
            deliveries = conn.execute(
                select(func.count())
                .select_from(t.audience_deliveries)
                .where(t.audience_deliveries.c.workspace_id == api.keys.workspace.id)
            ).scalar_one()
        return members, deliveries

    # The saved audience and the built-in new-visitor (no webhook: no delivery of its own).
    assert left() == (2, 1)
    erased = api.client.delete("/v1/profiles/user_id/gone", headers=api.secret_auth).json()
    assert erased["deleted"]["audience_memberships"] == 2
    assert erased["deleted"]["audience_deliveries"] == 1
    assert left() == (0, 0)


def test_preview_reading_only_the_counters_agrees_with_each_person(api: Api) -> None:
    """A behaviour condition's preview reads only the counters it needs from the database, a
    condition on the document skips what it does not read; both must find the people the
    per-person interpreter finds."""
    for n in range(8):
        for _ in range(n % 4):
            api.send(
                "track",
                userId=f"p{n}",
                event="Product Viewed",
                properties={
                    "product_id": f"sku-{n}",
                    "category": ["Shoes", "Hats"][n % 2],
                    "price": 10 * n,
                },
            )
        api.send("identify", userId=f"p{n}", traits={"n": n})
        if n < 3:
            api.send("group", userId=f"p{n}", groupId="acme", traits={"plan": "gold"})
    api.settle()
    conditions = [
        {"$event": {"name": "Product Viewed", "where": {"category": "Shoes"}, "count": 2}},
        {"$event": {"name": "Product Viewed", "within": "7d", "count": {"$gte": 2}}},
        {"$event": {"name": "Product Viewed", "sum": "price", "total": {"$gt": 50}}},
        {"$event": {"name": "Product Viewed", "days_since": {"$lt": 1}}},
        {"$event": {"name": "Product Viewed", "within": "session", "count": {"$gte": 3}}},
        {"$nor": [{"$event": {"name": "Product Viewed"}}]},
        # Conditions on the document (read whole): interests ranked only when they are read.
        {"computed.top_categories": {"$in": ["Shoes"]}},
        {"$and": [{"computed.product_views": {"$gte": 2}}, {"traits.n": {"$lt": 6}}]},
        {
            "accounts": {"$elemMatch": {"traits.plan": "gold"}},
            "computed.lifecycle_stage": {"$ne": "x"},
        },
        {"$or": [{"computed.days_since_last_seen": {"$lt": 1}}, {"consent.ads": True}]},
    ]
    for n, condition in enumerate(conditions):
        preview = api.client.post(
            "/v1/audiences/preview", json={"condition": condition}, headers=api.secret_auth
        ).json()
        body = {"id": f"c{n}", "name": "c", "condition": condition}
        assert (
            api.client.post("/v1/audiences", json=body, headers=api.secret_auth).status_code == 201
        )
        members = {
            m
            for m in range(8)
            if any(
                a["id"] == f"c{n}"
                for a in api.get(f"/v1/profiles/user_id/p{m}/audiences")["audiences"]
            )
        }
        assert preview["count"] == len(members) > 0, condition


def test_one_worker_holds_the_jobs_lease(api: Api) -> None:
    """Every server process asks for the lease; one holds it while it renews it."""
    store = api.services.audience_job.store
    later = int(time.time() * 1000) + 10**9  # past the lease of this process's own job thread
    try:
        assert store.try_job_lease("worker-a", later, 10)
        assert not store.try_job_lease("worker-b", later + 1_000, 10)
        assert store.try_job_lease("worker-a", later + 5_000, 10)  # renewed
        assert not store.try_job_lease("worker-b", later + 14_000, 10)
        assert store.try_job_lease("worker-b", later + 15_001, 10)  # a took too long
        store.release_job_lease("worker-a")  # no longer its: changes nothing
        assert not store.try_job_lease("worker-a", later + 16_000, 10)
    finally:
        store.release_job_lease("worker-b")
        store.release_job_lease("worker-a")
        hold_audience_job(api.services)


@contextmanager
def _lease_held_by(api: Api, owner: str, until_ms: int) -> Iterator[None]:
    """This test's owner holds the job's lease (so the app's own job thread runs nothing
    meanwhile) and no run of the shared job is in progress."""
    job = api.services.audience_job
    assert job.store.try_job_lease(owner, until_ms, 10)
    with job._lock:  # a run that began before the lease was taken has ended
        pass
    try:
        yield
    finally:
        job.store.release_job_lease(owner)
        hold_audience_job(api.services)  # the app's thread stays idle for the next tests


def _entered(api: Api, user: str, audience_id: str) -> int:
    return _timeline(api, user).count(("Audience Entered", audience_id))


def test_a_run_that_loses_its_lease_stops_and_the_next_records_each_change_once(
    api: Api,
) -> None:
    body = {"id": "paywalled", "name": "Paywalled", "condition": {"$event": {"name": "Paywall"}}}
    assert api.client.post("/v1/audiences", json=body, headers=api.secret_auth).status_code == 201
    readers = ["lost-1", "lost-2", "lost-3"]
    for reader in readers:
        api.send("track", userId=reader, event="Paywall")
    api.settle()
    job = api.services.audience_job
    later = int(time.time() * 1000) + 10**9
    with _lease_held_by(api, "lease-test", later):
        before = job.store.job_checkpoint()
        job.chunk = 1  # one profile a chunk: the run asks between every two
        try:
            asked: list[float] = []

            def lost(seconds: float) -> bool:
                asked.append(seconds)
                return False

            stopped = job.run_once(between_chunks=lost)
            assert stopped.stopped and asked
            assert job.store.job_checkpoint() == before  # the next run judges them again
            assert sum(_entered(api, r, "paywalled") for r in readers) <= 1
            finished = job.run_once(between_chunks=lambda seconds: True)
        finally:
            job.chunk = CHUNK_PROFILES
        assert not finished.stopped
        api.settle()
        assert [_entered(api, r, "paywalled") for r in readers] == [1, 1, 1]


def test_the_job_thread_keeps_its_lease_through_a_long_run_or_stops(api: Api) -> None:
    """Between chunks the thread renews the lease; once another process holds it, the run
    stops, so two processes never record the same change."""
    job = api.services.audience_job
    runner = AudienceJobThread(job)  # not started: its callback, with the real store
    now = int(time.time() * 1000)
    with _lease_held_by(api, runner.owner, now + 10**9):
        assert runner.between_chunks(0.0)  # renewed: still ours
        # The lease lapses (the run took too long) and another process takes it.
        assert job.store.try_job_lease("another-process", now + 10**9 + 60_000, 10)
        assert not runner.between_chunks(0.0)
        job.store.release_job_lease("another-process")


def _members(api: Api, audience_id: str) -> set[int]:
    """The profile ids the audience job recorded in the audience."""
    m = t.audience_members.c
    with api.services.db.read() as conn:
        return set(
            conn.execute(
                select(m.profile_id).where(
                    m.workspace_id == api.keys.workspace.id, m.audience_id == audience_id
                )
            ).scalars()
        )


def _order(api: Api, user: str, order_id: str, total: float = 40.0) -> None:
    products = [{"product_id": f"sku-{order_id}", "price": total}]
    api.send(
        "track",
        userId=user,
        event="Order Completed",
        properties={"order_id": order_id, "total": total, "products": products},
    )


def _profile_id(api: Api, user: str) -> int:
    return int(api.get(f"/v1/profiles/user_id/{user}/audiences")["profile_id"])


def test_a_second_order_enters_the_built_in_repeat_customer(api: Api) -> None:
    _order(api, "buyer", "o-1")
    api.settle()
    job = api.services.audience_job
    job.run_once()
    buyer = _profile_id(api, "buyer")
    assert ("Audience Entered", "customer") in _timeline(api, "buyer")
    assert ("Audience Entered", "repeat-customer") not in _timeline(api, "buyer")
    assert buyer in _members(api, "customer") and buyer not in _members(api, "repeat-customer")
    _order(api, "buyer", "o-2")
    api.settle()
    job.run_once()
    job.run_once()  # judged again: entering is recorded once
    assert _timeline(api, "buyer").count(("Audience Entered", "repeat-customer")) == 1
    assert _members(api, "repeat-customer") == {buyer}
    events = api.get("/v1/profiles/user_id/buyer/events")["events"]
    entered = next(e for e in events if e["event"] == "Audience Entered")  # newest first
    assert entered["message"]["properties"] == {
        "audience_id": "repeat-customer",
        "audience_name": "Repeat customer",
    }
    # Relevo's own events moved nothing: still two orders, no new session.
    assert api.profile("user_id", "buyer")["computed"]["orders"] == 2


def test_leaving_a_built_in_audience_records_exited(api: Api) -> None:
    api.send("track", userId="browser", event="Product Viewed", properties={"product_id": "p"})
    api.settle()
    job = api.services.audience_job
    job.run_once()
    assert ("Audience Entered", "new-visitor") in _timeline(api, "browser")
    assert _profile_id(api, "browser") in _members(api, "new-visitor")
    _order(api, "browser", "b-1")  # no longer new: a customer
    api.settle()
    job.run_once()
    timeline = _timeline(api, "browser")
    assert ("Audience Exited", "new-visitor") in timeline
    assert ("Audience Entered", "customer") in timeline
    assert _profile_id(api, "browser") not in _members(api, "new-visitor")


def test_a_merged_visitors_memberships_become_the_persons(api: Api) -> None:
    """An anonymous visitor (new-visitor) logs in to a customer's account: the person is
    judged with what either profile was in, so new-visitor is exited in their timeline, and
    no row stays with the merged profile."""
    _order(api, "merger", "m-1")
    api.send("track", anonymousId="anon-m", event="Product Viewed", properties={"product_id": "p"})
    api.settle()
    job = api.services.audience_job
    job.run_once()
    visitor = int(api.get("/v1/profiles/anonymous_id/anon-m/audiences")["profile_id"])
    assert visitor in _members(api, "new-visitor")
    api.send("identify", userId="merger", anonymousId="anon-m")
    api.settle()
    survivor = _profile_id(api, "merger")
    assert int(api.get("/v1/profiles/anonymous_id/anon-m/audiences")["profile_id"]) == survivor
    job.run_once()
    timeline = _timeline(api, "merger")
    assert ("Audience Entered", "new-visitor") in timeline  # the visitor's, moved with them
    assert ("Audience Exited", "new-visitor") in timeline
    assert timeline.count(("Audience Entered", "customer")) == 1
    everyone = set().union(*(_members(api, a) for a in BUILTIN_IDS))
    assert visitor not in everyone and survivor in _members(api, "customer")
    assert survivor not in _members(api, "new-visitor")


@contextmanager
def _checkpoint_kept(api: Api) -> Iterator[AudienceJob]:
    """A job of its own (its first run sweeps every profile) whose runs at a later time leave
    the shared job's checkpoint as it was."""
    store = api.services.audience_job.store
    before = store.job_checkpoint()
    try:
        yield AudienceJob(api.services.audiences, store)
    finally:
        store.set_job_checkpoint(before)


def test_the_hourly_sweep_moves_people_whom_time_alone_moves(api: Api) -> None:
    """Nothing the shopper does makes them a cart abandoner: an hour without them does. The
    sweep of every profile finds them; their order takes them out again."""
    api.send("track", userId="shopper", event="Product Added", properties={"product_id": "p"})
    api.settle()
    api.services.audience_job.run_once()
    assert ("Audience Entered", "cart-abandoner") not in _timeline(api, "shopper")
    with _checkpoint_kept(api) as later_job:
        later_job.run_once(now_ms=int(time.time() * 1000) + 2 * 3_600_000)
    assert ("Audience Entered", "cart-abandoner") in _timeline(api, "shopper")
    assert _profile_id(api, "shopper") in _members(api, "cart-abandoner")
    _order(api, "shopper", "s-1")
    api.settle()
    api.services.audience_job.run_once()
    assert ("Audience Exited", "cart-abandoner") in _timeline(api, "shopper")
    assert _profile_id(api, "shopper") not in _members(api, "cart-abandoner")


def test_a_built_in_audience_posts_no_webhook(api: Api, receiver: Receiver) -> None:
    body = {
        "id": "buyers",
        "name": "Buyers",
        "condition": {"computed.orders": {"$gte": 1}},
        "webhook_url": receiver.url,
    }
    assert api.client.post("/v1/audiences", json=body, headers=api.secret_auth).status_code == 201
    _order(api, "hooked", "h-1")
    _order(api, "hooked", "h-2")
    api.settle()
    api.services.audience_job.run_once()
    timeline = _timeline(api, "hooked")
    assert {("Audience Entered", a) for a in ("buyers", "customer", "repeat-customer")} <= set(
        timeline
    )
    for builtin in ("customer", "repeat-customer"):
        assert api.get(f"/v1/audiences/{builtin}/deliveries")["deliveries"] == []
    d = t.audience_deliveries.c
    with api.services.db.read() as conn:
        hooked = conn.execute(
            select(d.audience_id).where(d.workspace_id == api.keys.workspace.id)
        ).scalars()
        assert list(hooked) == ["buyers"]  # the saved audience's one, and nothing else


def _visit(medium: str, user_agent: str = "Mozilla/5.0 (X11; Linux x86_64)") -> Any:
    context = {"userAgent": user_agent, "campaign": {"source": "x", "medium": medium}}
    return ("page", {"name": "Home", "context": context})


def _ordered(order_id: str, total: float, **message: Any) -> Any:
    properties = {"order_id": order_id, "total": total, "products": []}
    return ("track", {"event": "Order Completed", "properties": properties, **message})


def test_the_job_and_each_persons_answer_agree_on_the_built_ins(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whole-workspace judging (the job, vectorised) and the request-time answer (per person)
    put the same people in each built-in audience; every built-in has a member here. The
    changes are recorded three a transaction: each one once, none lost between them."""
    monkeypatch.setattr(job_module, "RECORD_BATCH", 3)
    now = int(time.time() * 1000)
    hour, day = 3_600_000, 86_400_000
    iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148"
    people: dict[str, list[Any]] = {
        "fresh": [("track", {"event": "Product Viewed", "properties": {"product_id": "p"}})],
        "abandoned": [
            (
                "track",
                {
                    "event": "Product Added",
                    "timestamp": _iso(now - 2 * hour),
                    "properties": {"product_id": "p"},
                },
            )
        ],
        "rich": [_ordered("r1", 800)],
        "again": [_ordered("a1", 20), _ordered("a2", 20)],
        "lapsed": [
            _ordered("l1", 30, timestamp=_iso(now - 400 * day)),
            ("track", {"event": "Product Viewed", "timestamp": _iso(now - 300 * day)}),
        ],
        "reader": [_visit("email", iphone)],
        "clicker": [_visit("cpc")],
        "searcher": [_visit("organic")],
        "friend": [_visit("social")],
        "member": [("group", {"groupId": "acme", "traits": {"plan": "gold"}})],
    }
    for user, messages in people.items():
        for kind, message in messages:
            api.send(kind, userId=user, **message)
    api.settle()
    api.services.audience_job.run_once()
    answered: dict[str, set[int]] = {a: set() for a in BUILTIN_IDS}
    for user in people:
        found = api.get(f"/v1/profiles/user_id/{user}/audiences")
        for audience in found["audiences"]:
            if audience["builtin"]:
                answered[audience["id"]].add(found["profile_id"])
    recorded = {a: _members(api, a) for a in BUILTIN_IDS}
    assert recorded == answered
    assert all(recorded.values()), recorded  # not a comparison of empty sets
    for user in people:
        entered = [a for name, a in _timeline(api, user) if name == "Audience Entered"]
        assert len(entered) == len(set(entered)) > 0, (user, entered)


def _iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(ms / 1000))
