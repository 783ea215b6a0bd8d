"""The profile materializer's lease on PostgreSQL: one process writes at a time, and a process
whose lease connection dropped (the server then releases the advisory lock and another process
may take over) stops writing instead of carrying on without it."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from relevo.profiles.materializer import Materializer
from relevo.profiles.state import ProfileRules
from relevo.services import Services
from relevo.storage.migrate import upgrade
from relevo.storage.profile_store import ProfileStore
from relevo.tracking.messages import TrackedMessage, validate_message
from tests.databases import drop_schema, make_settings


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[Services]:
    settings = make_settings("postgresql", str(tmp_path))
    services = Services.build(settings)
    upgrade(services.db)
    yield services
    services.close()
    drop_schema(settings)


def _store_one(services: Services, workspace_id: int, n: int) -> None:
    message = validate_message(
        {"type": "identify", "userId": f"lease-{n}", "traits": {"n": n}, "messageId": f"l-{n}"}, 0
    )
    assert isinstance(message, TrackedMessage)
    services.ingest.write(workspace_id, [message], [], 0)


def test_a_materializer_whose_lease_connection_dropped_stops_writing(fresh: Services) -> None:
    workspace = fresh.workspaces.create("lease").workspace
    first, second = ProfileStore(fresh.db), ProfileStore(fresh.db)
    assert first.try_acquire_lease()
    assert not second.try_acquire_lease()  # one materializer at a time
    _store_one(fresh, workspace.id, 1)
    assert Materializer(first, ProfileRules()).step().events == 1
    done = first.checkpoint()

    assert first._lock_conn is not None
    pid = first._lock_conn.connection.dbapi_connection.info.backend_pid  # type: ignore[union-attr]
    with fresh.db.write_engine.begin() as conn:
        conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
    assert _eventually(second.try_acquire_lease)  # the server ended the session and its lock

    _store_one(fresh, workspace.id, 2)
    with pytest.raises(Exception, match=r"(?i)terminat|closed|connection"):
        Materializer(first, ProfileRules()).step()
    assert first.checkpoint() == done  # nothing written without the lease
    assert not first.holds_lease()
    # The process that took over carries on; the old one can take the lease again once free.
    assert Materializer(second, ProfileRules()).step().events == 1
    second.release_lease()
    assert _eventually(first.try_acquire_lease)
    first.release_lease()


def _eventually(attempt: Callable[[], bool], seconds: float = 5.0) -> bool:
    """The server ends a closed session's locks a moment after the socket closes."""
    deadline = time.monotonic() + seconds
    while not attempt():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True
