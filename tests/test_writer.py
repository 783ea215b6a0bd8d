"""Group commit: concurrent requests share one transaction; a full queue answers 503."""

from __future__ import annotations

import pytest

from relevo.errors import Overloaded
from relevo.services import Services
from relevo.tracking.jobs import IngestJob
from relevo.tracking.messages import TrackedMessage, validate_message
from relevo.tracking.writer import IngestWriter


def _message(n: int) -> TrackedMessage:
    result = validate_message(
        {"type": "track", "event": "E", "userId": f"w{n}", "messageId": f"w-{n}"}, 0
    )
    assert isinstance(result, TrackedMessage)
    return result


def test_full_queue_is_refused_with_retry_after(services: Services) -> None:
    writer = IngestWriter(services.ingest, max_batch_messages=100, max_pending=2)  # not started
    workspace = services.workspaces.create("queue-full").workspace
    writer.submit_nowait(IngestJob(workspace.id, [_message(1)], []))
    writer.submit_nowait(IngestJob(workspace.id, [_message(2)], []))
    with pytest.raises(Overloaded) as refused:
        writer.submit_nowait(IngestJob(workspace.id, [_message(3)], []))
    assert refused.value.status_code == 503 and refused.value.details["retry_after"] == 1
    writer.start()  # the queued requests are then stored, nothing lost
    writer.stop()


def test_concurrent_requests_share_a_commit(services: Services) -> None:
    workspace = services.workspaces.create("group-commit").workspace
    writer = IngestWriter(services.ingest, max_batch_messages=1000, max_pending=100)
    commits: list[int] = []
    write_many = services.ingest.write_many

    def counting(jobs, now_ms):  # type: ignore[no-untyped-def]
        commits.append(len(jobs))
        return write_many(jobs, now_ms)

    services.ingest.write_many = counting  # type: ignore[method-assign]
    try:
        futures = [
            writer.submit_nowait(IngestJob(workspace.id, [_message(100 + n)], []))
            for n in range(20)
        ]
        writer.start()
        results = [f.result(timeout=10) for f in futures]
    finally:
        writer.stop()
        services.ingest.write_many = write_many  # type: ignore[method-assign]
    assert [r.stored for r in results] == [1] * 20
    assert sum(commits) == 20 and len(commits) < 20  # queued requests went out together
