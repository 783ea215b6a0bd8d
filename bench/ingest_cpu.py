"""CPU per message of each side of ingest, in one process, no HTTP: what a worker spends on a
message (parse, validate, trust; the group commit) and what the profile materializer spends on
an event, with bench/wrk/batch.lua's mix of messages (20,000 visitors, three in ten known).

CPU time (of this thread) moves far less than throughput when other work shares the machine,
and validation is timed as the fastest of several passes over the same bodies. Usage:

    .venv/bin/python bench/ingest_cpu.py [--messages 400000] [--chunk 8000] [--record]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from common import SOURCES, UAS, record

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from relevo.services import Services
from relevo.settings import Settings
from relevo.storage import migrate
from relevo.tracking.ingest import parse_json_object, quarantine_in_full, split_batch
from relevo.tracking.jobs import IngestJob
from relevo.tracking.trust import TrustPolicy, Untrusted, apply_trust

T = TypeVar("T")

CONTEXTS = [
    f'"context":{{"userAgent":"{ua}","page":{{"url":"{url}",'
    '"referrer":"https://www.google.com/"}}'
    for ua, url in zip(UAS, SOURCES, strict=True)
]


def _product(rng: random.Random) -> str:
    return (
        f'{{"product_id":"{rng.randint(0, 4999)}","category":"category-{rng.randint(0, 29)}",'
        f'"brand":"brand-{rng.randint(0, 49)}","price":12.5}}'
    )


def _message(rng: random.Random, message_id: str, stamp: str, visitors: int) -> str:
    """One message as bench/wrk/batch.lua writes it."""
    visitor = rng.randint(0, visitors - 1)
    who = f'"anonymousId":"anon-{visitor}"'
    roll = rng.random()
    context = CONTEXTS[visitor % 3]
    if 0.93 <= roll < 0.97:
        return (
            f'{{"type":"identify","userId":"user-{visitor}","traits":{{"email":"user{visitor}'
            f'@example.com"}},{who},"messageId":"{message_id}",{stamp}{context}}}'
        )
    if visitor % 10 < 3:
        who += f',"userId":"user-{visitor}"'
    head = f'{who},"messageId":"{message_id}",{stamp}{context}'
    if roll < 0.30:
        return f'{{"type":"page","name":"Product",{head}}}'
    if roll < 0.80:
        return f'{{"type":"track","event":"Product Viewed","properties":{_product(rng)},{head}}}'
    if roll < 0.93:
        return f'{{"type":"track","event":"Product Added","properties":{_product(rng)},{head}}}'
    return (
        f'{{"type":"track","event":"Order Completed","properties":{{"order_id":"o-{message_id}",'
        f'"revenue":25.0,"products":[{_product(rng)}]}},{head}}}'
    )


def bodies(messages: int, batch: int = 100, visitors: int = 20_000) -> list[bytes]:
    """Request bodies of `batch` messages, 5 ms apart, as wrk sends them."""
    rng, at, out = random.Random(1), time.time() - 3600, []
    for request in range(messages // batch):
        at += 0.005
        moment = (
            time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at)) + f".{int(at * 1000) % 1000:03d}Z"
        )
        stamp = f'"timestamp":"{moment}","sentAt":"{moment}",'
        parts = [_message(rng, f"m-{request}-{i}", stamp, visitors) for i in range(batch)]
        out.append(('{"batch":[' + ",".join(parts) + "]}").encode())
    return out


def validated(body: bytes, workspace_id: int) -> IngestJob:
    """What the /v1/batch route does with a body before the writer (a server key: trusted)."""
    split = split_batch(parse_json_object(body), int(time.time() * 1000), len(body))
    policy = TrustPolicy(trusted=True, keys=None, now_s=time.time())
    kept = []
    for message in split.accepted:
        outcome = apply_trust(message, policy)
        assert not isinstance(outcome, Untrusted)
        kept.extend(outcome)
    return IngestJob(workspace_id, kept, quarantine_in_full(split.rejected))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=400_000)
    parser.add_argument("--chunk", type=int, default=8_000, help="events per materializer step")
    parser.add_argument("--passes", type=int, default=5, help="validation passes (fastest kept)")
    parser.add_argument("--record", action="store_true")
    args = parser.parse_args()
    data = bodies(args.messages)
    with tempfile.TemporaryDirectory() as tmp:
        services = Services.build(Settings(database_url=f"sqlite:///{tmp}/cpu.db"))
        try:
            migrate.upgrade(services.db)
            workspace = services.workspaces.create("cpu").workspace.id
            sample = data[:200]
            validation = min(
                _cpu(lambda: [validated(b, workspace) for b in sample])[0]
                for _ in range(args.passes)
            )
            per_validation = validation * 1e6 / (len(sample) * 100)
            jobs = [validated(body, workspace) for body in data]
            commit, _ = _cpu(lambda: _store(services, jobs))
            services.materializer.chunk = args.chunk
            services.materializer.store.try_acquire_lease()
            folding, (events, profiles) = _cpu(lambda: _materialize(services))
        finally:
            services.close()
    lines = [
        f"{args.messages:,} messages of the wrk mix (100 per request, 20,000 visitors), SQLite, "
        "one process",
        f"worker side: parse + validate + trust {per_validation:.1f} us/message (fastest of "
        f"{args.passes} passes over 20,000), group commit {commit * 1e6 / args.messages:.1f} "
        "us/message (10 requests per transaction)",
        f"materializer: {folding * 1e6 / events:.1f} us/event in steps of {args.chunk:,} events "
        f"({profiles / events:.2f} profiles written per event; its thread only, not the WAL "
        "checkpoint's)",
    ]
    print("\n".join(lines))
    if args.record:
        record("Ingest CPU per message, in one process", " ".join(["python", *sys.argv]), lines)


def _cpu(work: Callable[[], T]) -> tuple[float, T]:
    started = time.thread_time()
    result = work()
    return time.thread_time() - started, result


def _store(services: Services, jobs: list[IngestJob]) -> None:
    for i in range(0, len(jobs), 10):
        services.ingest.write_many(jobs[i : i + 10], int(time.time() * 1000))


def _materialize(services: Services) -> tuple[int, int]:
    events = profiles = 0
    while True:
        step = services.materializer.step()
        if step.events == 0 and step.rebuilt == 0:
            return events, profiles
        events, profiles = events + step.events, profiles + step.profiles


if __name__ == "__main__":
    main()
