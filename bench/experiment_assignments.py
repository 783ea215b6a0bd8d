"""What sticky experiment assignments cost, in one process, no HTTP, on a fresh database:

- ingest: ``IngestStore.write_many`` of 100-message batches (20,000 visitors) whose share of
  ``Experiment Viewed`` events is 0%, 10% and 100%: the assignment rows are written in the
  same transaction. Median and p90 ms per batch, commit included;
- the decisions' read: ``assigned`` (and on PostgreSQL ``assigned_awaited``) of one person
  among 66,000 assignment rows (22,000 profiles, three experiments each, one in ten persons
  with a merged profile), without table statistics (a fresh table, as after a deploy).

Usage:

    .venv/bin/python bench/experiment_assignments.py [sqlite] [postgresql]
"""

from __future__ import annotations

import asyncio
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from sqlalchemy import update

from relevo.experiments.exposure import ExperimentExposure, exposure_message_id
from relevo.services import Services
from relevo.storage import schema as t
from relevo.storage.bulk import create_profiles
from relevo.storage.database import Database
from relevo.storage.experiment_store import ExperimentStore, assignment_rows, record_assignments
from relevo.storage.ingest_store import empty_profile_row
from relevo.storage.migrate import upgrade
from relevo.tracking.jobs import IngestJob
from relevo.tracking.messages import TrackedMessage, validate_message
from tests.databases import drop_schema, make_settings

VISITORS = 20_000


def _batch(size: int, share: float, tag: str, rng: random.Random) -> list[TrackedMessage]:
    messages = []
    for n in range(size):
        visitor = rng.randrange(VISITORS)
        raw: dict[str, object]
        if n < share * size:
            exposure = ExperimentExposure(
                f"exp-{n % 3}", "Exp", "b" if visitor % 2 else "a", "B", "mobile", "organic",
                "new", "champions", ("new-visitor", "vip"),
            )  # fmt: skip
            message_id = exposure_message_id(exposure.experiment_id, f"{tag}-{n}")
            raw = {"type": "track", "event": "Experiment Viewed",
                   "anonymousId": f"anon-{visitor}", "properties": exposure.properties(),
                   "messageId": message_id}  # fmt: skip
        else:
            raw = {"type": "track", "event": "Product Viewed", "anonymousId": f"anon-{visitor}",
                   "properties": {"product_id": str(n), "price": 12.5},
                   "messageId": f"{tag}-{n}"}  # fmt: skip
        message = validate_message(raw, int(time.time() * 1000))
        assert isinstance(message, TrackedMessage)
        messages.append(message)
    return messages


def _summary(times: list[float]) -> str:
    ordered = sorted(times)
    return (
        f"median {statistics.median(ordered):6.3f} ms, "
        f"p90 {ordered[int(len(ordered) * 0.9)]:6.3f}, p99 {ordered[int(len(ordered) * 0.99)]:6.3f}"
    )


def ingest(services: Services, workspace_id: int) -> None:
    rng = random.Random(1)
    for warm in range(40):  # the visitors' profiles exist: the steady state of a shop
        job = IngestJob(workspace_id, _batch(500, 0, f"warm-{warm}", rng), [])
        services.ingest.write_many([job], int(time.time() * 1000))
    results: dict[float, list[float]] = {}
    for rounds in range(6):  # interleaved, so a busy moment of the machine hits all three
        for share in (0.0, 0.1, 1.0):
            for n in range(30):
                job = IngestJob(workspace_id, _batch(100, share, f"{share}-{rounds}-{n}", rng), [])
                start = time.perf_counter()
                services.ingest.write_many([job], int(time.time() * 1000))
                results.setdefault(share, []).append((time.perf_counter() - start) * 1000)
    for share, times in results.items():
        print(f"  ingest, {share:4.0%} exposures: {_summary(times)} per 100-message batch")


def reads(services: Services, workspace_id: int) -> None:
    with services.db.write() as conn:
        ids = create_profiles(conn, [empty_profile_row(workspace_id, 0) for _ in range(22_000)])
        people, merged = ids[:20_000], ids[20_000:]
        p = t.profiles.c
        for profile, survivor in zip(merged, people[::10], strict=True):
            conn.execute(update(t.profiles).where(p.id == profile).values(merged_into=survivor))
        exposures = [
            (ExperimentExposure(f"exp-{e}", "Exp", "ab"[(pid + e) % 2], "V"), pid, 1000 + pid)
            for pid in ids
            for e in range(3)
        ]
        for start in range(0, len(exposures), 5000):
            record_assignments(conn, assignment_rows(workspace_id, exposures[start : start + 5000]))
    store = services.experiments.store
    sample = [random.Random(2).choice(people) for _ in range(2000)]
    for profile in sample[:100]:
        store.assigned(workspace_id, profile)
    times = []
    for profile in sample:
        start = time.perf_counter()
        assert len(store.assigned(workspace_id, profile)) == 3
        times.append((time.perf_counter() - start) * 1000)
    print(f"  assigned(): {_summary(times)}")
    if services.db.is_sqlite:
        return
    db = Database(services.settings)  # a pool of its own, on this script's event loop
    awaited_store = ExperimentStore(db)

    async def awaited() -> list[float]:
        async with db.async_reads_open():
            for profile in sample[:100]:
                await awaited_store.assigned_awaited(workspace_id, profile)
            found = []
            for profile in sample:
                start = time.perf_counter()
                await awaited_store.assigned_awaited(workspace_id, profile)
                found.append((time.perf_counter() - start) * 1000)
            return found

    try:
        print(f"  assigned_awaited(): {_summary(asyncio.run(awaited()))}")
    finally:
        db.dispose()


def main(backends: list[str]) -> None:
    for backend in backends:
        print(backend)
        for step in (ingest, reads):
            settings = make_settings(backend, tempfile.mkdtemp())
            services = Services.build(settings)
            upgrade(services.db)
            try:
                workspace = services.workspaces.create(f"bench-{uuid.uuid4().hex[:8]}")
                step(services, workspace.workspace.id)
            finally:
                services.close()
                drop_schema(settings)


if __name__ == "__main__":
    main(sys.argv[1:] or ["sqlite", "postgresql"])
