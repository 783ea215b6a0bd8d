"""Group commit: concurrent requests share one transaction; a full queue answers 503; a group
commit that fails is isolated down to the message the database refuses, which is quarantined with
the database's own error; only an unavailable database answers 503, and every request is
answered."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, func, insert, select, text
from sqlalchemy.exc import OperationalError

from relevo.errors import Overloaded, StoreUnavailable
from relevo.services import Services
from relevo.storage import schema as t
from relevo.tracking.jobs import IngestJob, StoredBatch
from relevo.tracking.messages import RejectedMessage, TrackedMessage, validate_message
from relevo.tracking.writer import (
    IngestWriter,
    lost_a_race,
    refused_by_store,
    store_unavailable,
)
from tests.databases import PG_URL


def _message(n: int | str, workspace_tag: str = "") -> TrackedMessage:
    result = validate_message(
        {"type": "track", "event": "E", "userId": f"w{n}", "messageId": f"w-{workspace_tag}{n}"},
        0,
    )
    assert isinstance(result, TrackedMessage)
    return result


def _counts(services: Services, workspace_id: int) -> tuple[int, int]:
    with services.db.read() as conn:
        events = conn.execute(
            select(func.count()).where(t.events.c.workspace_id == workspace_id)
        ).scalar_one()
        quarantined = conn.execute(
            select(func.count()).where(t.quarantine.c.workspace_id == workspace_id)
        ).scalar_one()
    return int(events), int(quarantined)


def _quarantine(services: Services, workspace_id: int) -> list[dict[str, Any]]:
    with services.db.read() as conn:
        rows = conn.execute(
            select(t.quarantine.c.message_id, t.quarantine.c.reason, t.quarantine.c.payload)
            .where(t.quarantine.c.workspace_id == workspace_id)
            .order_by(t.quarantine.c.id)
        )
        return [dict(r._mapping) for r in rows]


class FaultySink:
    """The real event store, except that ``fault(jobs)`` may name an error to raise instead of
    writing: how a database failing on one message, or going away, looks to the writer."""

    def __init__(
        self, real: Any, fault: Callable[[Sequence[IngestJob]], BaseException | None]
    ) -> None:
        self.real = real
        self.fault = fault
        self.calls: list[int] = []  # messages + rejected per write_many call

    def write(self, *args: Any, **kwargs: Any) -> StoredBatch:
        raise AssertionError("the writer only uses write_many")

    def write_many(self, jobs: Sequence[IngestJob], now_ms: int) -> list[StoredBatch]:
        self.calls.append(sum(len(j.messages) + len(j.rejected) for j in jobs))
        error = self.fault(jobs)
        if error is not None:
            raise error
        result: list[StoredBatch] = self.real.write_many(jobs, now_ms)
        return result

    def exclusive(self) -> AbstractContextManager[None]:
        context: AbstractContextManager[None] = self.real.exclusive()
        return context


def _holds(jobs: Sequence[IngestJob], message_id: str) -> bool:
    return any(m.message_id == message_id for j in jobs for m in j.messages)


def _real_integrity_error(services: Services) -> Exception:
    """What this database really raises for a row it refuses (a NOT NULL column left empty)."""
    try:
        with services.db.write() as conn:
            conn.execute(insert(t.events).values(workspace_id=None))
    except Exception as error:
        return error
    raise AssertionError("the database accepted a row without a workspace")


@contextmanager
def _running(writer: IngestWriter) -> Iterator[IngestWriter]:
    writer.start()
    try:
        yield writer
    finally:
        writer.stop()


def test_full_queue_is_refused_with_retry_after(services: Services) -> None:
    writer = IngestWriter(services.ingest, max_batch_messages=100, max_pending=2)  # not started
    workspace = services.workspaces.create("queue-full").workspace
    queued = [
        writer.submit_nowait(IngestJob(workspace.id, [_message(1, "full")], [])),
        writer.submit_nowait(IngestJob(workspace.id, [_message(2, "full")], [])),
    ]
    with pytest.raises(Overloaded) as refused:
        writer.submit_nowait(IngestJob(workspace.id, [_message(3, "full")], []))
    assert refused.value.status_code == 503 and refused.value.details["retry_after"] == 1
    with _running(writer):  # the queued requests are then stored, nothing lost
        results = [f.result(timeout=10) for f in queued]
    assert [r.stored for r in results] == [1, 1]
    assert _counts(services, workspace.id) == (2, 0)


def test_concurrent_requests_share_a_commit(services: Services) -> None:
    workspace = services.workspaces.create("group-commit").workspace
    sink = FaultySink(services.ingest, lambda jobs: None)
    writer = IngestWriter(sink, max_batch_messages=1000, max_pending=100)
    futures = [
        writer.submit_nowait(IngestJob(workspace.id, [_message(100 + n)], [])) for n in range(20)
    ]
    with _running(writer):
        results = [f.result(timeout=10) for f in futures]
    assert [r.stored for r in results] == [1] * 20
    assert sum(sink.calls) == 20 and len(sink.calls) < 20  # queued requests went out together


def test_rejected_messages_count_toward_the_commit_size(services: Services) -> None:
    workspace = services.workspaces.create("commit-size").workspace
    sink = FaultySink(services.ingest, lambda jobs: None)
    writer = IngestWriter(sink, max_batch_messages=10, max_pending=100)
    bad = [RejectedMessage(i, "test: rejected", {"n": i}) for i in range(4)]
    futures = [writer.submit_nowait(IngestJob(workspace.id, [], bad)) for _ in range(5)]
    with _running(writer):
        results = [f.result(timeout=10) for f in futures]
    assert [r.quarantined for r in results] == [4] * 5
    assert sink.calls == [12, 8]  # 4 + 4 + 4 passes 10: three requests, then the other two


def test_a_message_the_database_refuses_is_quarantined_alone(services: Services) -> None:
    """One message the database refuses no longer fails its group commit forever (503 on every
    retry, with the other requests of the group): the others are stored, it is quarantined
    with the database's own error, and its request is answered with it by position."""
    workspace = services.workspaces.create("isolation").workspace
    refusal = _real_integrity_error(services)
    database_says = str(getattr(refusal, "orig", refusal)).splitlines()[0]
    sink = FaultySink(services.ingest, lambda jobs: refusal if _holds(jobs, "w-bad") else None)
    writer = IngestWriter(sink, max_batch_messages=1000, max_pending=100)
    rejected = RejectedMessage(0, "test: invalid", {"type": "fly"})
    futures = [
        writer.submit_nowait(
            IngestJob(workspace.id, [_message("a1"), _message("bad"), _message("a2")], [])
        ),
        writer.submit_nowait(IngestJob(workspace.id, [_message("b1")], [])),
        writer.submit_nowait(IngestJob(workspace.id, [_message("c1")], [rejected])),
    ]
    with _running(writer):
        first, second, third = (f.result(timeout=20) for f in futures)
    assert (first.stored, first.duplicates, first.quarantined) == (2, 0, 1)
    [(position, reason)] = refused_by_store(first)
    assert position == 1 and database_says in reason
    assert (second.stored, refused_by_store(second)) == (1, ())
    assert (third.stored, third.quarantined, refused_by_store(third)) == (1, 1, ())
    assert _counts(services, workspace.id) == (4, 2)
    quarantined = {q["message_id"]: q for q in _quarantine(services, workspace.id)}
    assert database_says in quarantined["w-bad"]["reason"]
    assert '"userId":"wbad"' in quarantined["w-bad"]["payload"]  # the message itself, kept
    assert quarantined[None]["reason"] == "test: invalid"


def test_a_message_id_too_long_for_the_database_is_stored_or_quarantined(
    services: Services, backend: str
) -> None:
    # Built past validation (which refuses it at the edge): the database's own refusal on
    # PostgreSQL (varchar(255)) is then isolated; SQLite stores it.
    workspace = services.workspaces.create("too-long-id").workspace
    good = _message("ok")
    long = validate_message({"type": "track", "event": "E", "userId": "long"}, 0)
    assert isinstance(long, TrackedMessage)
    long = replace(long, message_id="m" * 300)
    writer = IngestWriter(services.ingest, max_batch_messages=1000, max_pending=100)
    future = writer.submit_nowait(IngestJob(workspace.id, [good, long], []))
    with _running(writer):
        result = future.result(timeout=20)
    if backend == "sqlite":
        assert (result.stored, refused_by_store(result)) == (2, ())
        assert _counts(services, workspace.id) == (2, 0)
        return
    assert result.stored == 1
    [(position, reason)] = refused_by_store(result)
    assert position == 1 and "value too long" in reason
    [row] = _quarantine(services, workspace.id)
    assert row["message_id"] is None  # the id column cannot hold it either: kept as text
    assert '"userId":"long"' in row["payload"] and "value too long" in row["reason"]


def _connection_refused() -> Exception:
    engine = create_engine(PG_URL.replace("127.0.0.1:5432", "127.0.0.1:1"))
    try:
        with engine.connect():
            pass
    except OperationalError as error:
        return error
    finally:
        engine.dispose()
    raise AssertionError("something listens on port 1")


def _cannot_open(tmp_path: Path) -> Exception:
    engine = create_engine(f"sqlite:///{tmp_path}/missing/folder/relevo.db")
    try:
        with engine.connect():
            pass
    except OperationalError as error:
        return error
    finally:
        engine.dispose()
    raise AssertionError("SQLite opened a file in a missing folder")


def _locked(tmp_path: Path) -> Exception:
    path = tmp_path / "locked.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    waiter = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        waiter.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as error:
        return error
    finally:
        waiter.close()
        holder.close()
    raise AssertionError("SQLite let two writers in")


@pytest.mark.parametrize("make_error", [_connection_refused, _cannot_open, _locked])
def test_an_unavailable_database_is_503_with_retry_after_and_stores_nothing(
    services: Services, tmp_path: Path, make_error: Callable[..., Exception]
) -> None:
    error = make_error() if make_error is _connection_refused else make_error(tmp_path)
    assert store_unavailable(error)
    workspace = services.workspaces.create(f"down-{make_error.__name__}").workspace
    down = threading.Event()
    down.set()
    sink = FaultySink(services.ingest, lambda jobs: error if down.is_set() else None)
    writer = IngestWriter(sink, max_batch_messages=1000, max_pending=100)
    futures = [
        writer.submit_nowait(IngestJob(workspace.id, [_message(n, "down"), _message(n + 10)], []))
        for n in range(3)
    ]
    with _running(writer):
        for future in futures:
            with pytest.raises(StoreUnavailable) as unavailable:
                future.result(timeout=10)
            assert unavailable.value.status_code == 503
            assert unavailable.value.details["retry_after"] > 0
        assert len(sink.calls) == 1  # not retried one by one: nothing to isolate
        assert _counts(services, workspace.id) == (0, 0)
        down.clear()  # the database is back: the client's retry is stored
        again = writer.submit_nowait(IngestJob(workspace.id, [_message(0, "down")], []))
        assert again.result(timeout=10).stored == 1
    assert _counts(services, workspace.id) == (1, 0)


def test_every_request_is_answered_even_when_nothing_can_be_stored(services: Services) -> None:
    workspace = services.workspaces.create("broken").workspace
    sink = FaultySink(services.ingest, lambda jobs: RuntimeError("a bug in the store"))
    writer = IngestWriter(sink, max_batch_messages=1000, max_pending=100)
    futures = [
        writer.submit_nowait(IngestJob(workspace.id, [_message(n, "broken")], [])) for n in range(3)
    ]
    with _running(writer):
        for future in futures:
            with pytest.raises(RuntimeError):  # a 500, logged: not a 503 forever
                future.result(timeout=10)


def test_a_failing_write_lock_answers_every_request(services: Services) -> None:
    workspace = services.workspaces.create("no-lock").workspace

    class NoLock(FaultySink):
        def exclusive(self) -> AbstractContextManager[None]:
            raise OSError(28, "No space left on device")

    writer = IngestWriter(NoLock(services.ingest, lambda jobs: None), 1000, 100)
    future = writer.submit_nowait(IngestJob(workspace.id, [_message(1, "nolock")], []))
    with _running(writer), pytest.raises(StoreUnavailable):
        future.result(timeout=10)


def _pg_error(sql: str) -> Exception:
    engine = create_engine(PG_URL)
    try:
        with engine.begin() as conn:
            conn.execute(text("SET LOCAL statement_timeout = 50"))
            conn.execute(text("CREATE TEMPORARY TABLE probe (v varchar(1)) ON COMMIT DROP"))
            conn.execute(text(sql))
    except Exception as error:
        return error
    finally:
        engine.dispose()
    raise AssertionError(f"PostgreSQL ran {sql}")


def _sqlite_error(tmp_path: Path, sql: str) -> Exception:
    engine = create_engine(f"sqlite:///{tmp_path}/probe.db")
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE IF NOT EXISTS probe (v TEXT NOT NULL)"))
            conn.execute(text(sql))
    except Exception as error:
        return error
    finally:
        engine.dispose()
    raise AssertionError(f"SQLite ran {sql}")


def test_errors_are_told_apart_from_the_drivers_own_codes(tmp_path: Path) -> None:
    unavailable = {
        "PostgreSQL connection refused": _connection_refused(),
        "PostgreSQL statement timeout": _pg_error("SELECT pg_sleep(1)"),
        "SQLite cannot open the file": _cannot_open(tmp_path),
        "SQLite database is locked": _locked(tmp_path),
        "disk full": OSError(28, "No space left on device"),
    }
    refused = {
        "PostgreSQL value too long": _pg_error("INSERT INTO probe VALUES ('too long')"),
        "PostgreSQL NUL in text": _pg_error("SELECT 'a' || chr(0)"),
        "PostgreSQL unknown table": _pg_error("SELECT * FROM no_such_table"),
        "SQLite NOT NULL": _sqlite_error(tmp_path, "INSERT INTO probe VALUES (NULL)"),
        "SQLite unknown table": _sqlite_error(tmp_path, "SELECT * FROM no_such_table"),
        "a bug": KeyError("payload"),
    }
    assert {k: store_unavailable(e) for k, e in unavailable.items()} == dict.fromkeys(
        unavailable, True
    )
    assert {k: store_unavailable(e) for k, e in refused.items()} == dict.fromkeys(refused, False)


def _identify(anonymous_id: str, user_id: str | None, tag: str) -> TrackedMessage:
    body: dict[str, Any] = {"type": "identify", "anonymousId": anonymous_id, "messageId": tag}
    if user_id:
        body["userId"] = user_id
    result = validate_message(body, 0)
    assert isinstance(result, TrackedMessage)
    return result


def _profile_of(services: Services, workspace_id: int, value: str) -> int:
    with services.db.read() as conn:
        return int(
            conn.execute(
                select(t.identities.c.profile_id).where(
                    t.identities.c.workspace_id == workspace_id, t.identities.c.value == value
                )
            ).scalar_one()
        )


def test_a_merge_locks_profiles_in_id_order_as_the_materializer_does(services: Services) -> None:
    """The deadlock CI met on PostgreSQL: a merge updated the merged (higher id) profile before
    the survivor while a materializer step held the survivor and wanted the merged one. Here a
    connection plays the materializer: it holds the survivor, lets the merge start, then takes
    the merged profile. The merge must be waiting for the survivor without holding the other."""
    if services.db.is_sqlite:
        pytest.skip("SQLite's single write lock serialises the two")
    workspace = services.workspaces.create("lock-order").workspace
    services.ingest.write(workspace.id, [_identify("lo-a", "lo-user", "lo-1")], [], 1)
    services.ingest.write(workspace.id, [_identify("lo-b", None, "lo-2")], [], 2)
    survivor = _profile_of(services, workspace.id, "lo-user")
    merged = _profile_of(services, workspace.id, "lo-b")
    assert survivor < merged
    results: list[StoredBatch] = []
    with services.db.write_engine.connect() as holder:
        holder.execute(text("SET lock_timeout = '3s'"))
        holder.execute(select(t.profiles.c.id).where(t.profiles.c.id == survivor).with_for_update())
        merging = threading.Thread(
            target=lambda: results.append(
                services.ingest.write(workspace.id, [_identify("lo-b", "lo-user", "lo-3")], [], 3)
            )
        )
        merging.start()
        waited = 0.0
        while waited < 5 and not _waits_for_a_lock(holder):
            time.sleep(0.05)
            waited += 0.05
        assert _waits_for_a_lock(holder), "the merge never reached the profiles"
        # Without the ordered lock the merge holds this row now: a deadlock or a lock timeout.
        holder.execute(select(t.profiles.c.id).where(t.profiles.c.id == merged).with_for_update())
        holder.commit()
        merging.join(timeout=10)
    assert [r.merges for r in results] == [1]


def _waits_for_a_lock(conn: Any) -> bool:
    """Does another backend wait on a lock this connection holds?"""
    return bool(
        conn.execute(
            text(
                "SELECT count(*) FROM pg_locks w WHERE NOT w.granted AND "
                "pg_backend_pid() = ANY(pg_blocking_pids(w.pid))"
            )
        ).scalar_one()
    )


def test_a_transaction_that_lost_a_race_is_retried_not_answered_503(services: Services) -> None:
    """PostgreSQL aborts one side of a deadlock or a serialization conflict; running it again
    succeeds, so the writer retries it instead of telling the client the database is down."""
    deadlock = _real_deadlock() if not services.db.is_sqlite else None
    if deadlock is None:
        pytest.skip("SQLite has no deadlocks: one writer at a time")
    assert lost_a_race(deadlock) and store_unavailable(deadlock)
    workspace = services.workspaces.create("lost-race").workspace
    failures = iter([deadlock, deadlock])
    sink = FaultySink(services.ingest, lambda jobs: next(failures, None))
    writer = IngestWriter(sink, max_batch_messages=1000, max_pending=100)
    future = writer.submit_nowait(IngestJob(workspace.id, [_message(1, "race")], []))
    with _running(writer):
        assert future.result(timeout=10).stored == 1
    assert len(sink.calls) == 3
    assert _counts(services, workspace.id) == (1, 0)


def _real_deadlock() -> Exception:
    """Two transactions locking two rows in opposite orders: what PostgreSQL raises."""
    engine = create_engine(PG_URL)
    try:
        with engine.begin() as setup:
            setup.execute(text("CREATE TABLE IF NOT EXISTS deadlock_probe (id int PRIMARY KEY)"))
            setup.execute(text("INSERT INTO deadlock_probe VALUES (1), (2) ON CONFLICT DO NOTHING"))
        first, second = engine.connect(), engine.connect()
        first.execute(text("SELECT 1 FROM deadlock_probe WHERE id = 1 FOR UPDATE"))
        second.execute(text("SELECT 1 FROM deadlock_probe WHERE id = 2 FOR UPDATE"))
        errors: list[Exception] = []

        def take(conn: Any, row: int) -> None:
            try:
                conn.execute(text(f"SELECT 1 FROM deadlock_probe WHERE id = {row} FOR UPDATE"))
            except Exception as error:
                errors.append(error)
            finally:
                conn.rollback()

        other = threading.Thread(target=take, args=(first, 2))
        other.start()
        take(second, 1)
        other.join()
        first.close()
        second.close()
        assert len(errors) == 1, errors
        return errors[0]
    finally:
        engine.dispose()
