"""Throughput of each ingest stage alone, in one process, no HTTP: validation, the storage
transaction (identity resolution + events), and the profile materializer. Shows where the time
of bench/ingest.py goes. Usage:

    .venv/bin/python bench/stages.py --backend sqlite --messages 60000 [--record]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

from common import drop_schema, fresh_settings, message, record

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from relevo.services import Services
from relevo.storage.migrate import upgrade
from relevo.tracking.ingest import split_batch
from relevo.tracking.jobs import IngestJob


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--messages", type=int, default=60_000)
    parser.add_argument("--record", action="store_true")
    args = parser.parse_args()
    rng = random.Random(3)
    raw = [message(rng, i, 20_000) for i in range(args.messages)]
    with tempfile.TemporaryDirectory() as tmp:
        settings = fresh_settings(args.backend, Path(tmp))
        services = Services.build(settings)
        try:
            upgrade(services.db)
            workspace = services.workspaces.create("stages").workspace
            start = time.perf_counter()
            jobs = []
            for i in range(0, len(raw), 100):
                accepted, rejected = split_batch(
                    {"batch": raw[i : i + 100]}, int(time.time() * 1000), 60_000
                )
                jobs.append(IngestJob(workspace.id, accepted, rejected))
            validated = time.perf_counter()
            for i in range(0, len(jobs), 10):  # ten requests per group commit
                services.ingest.write_many(jobs[i : i + 10], int(time.time() * 1000))
            stored = time.perf_counter()
            folded = services.materializer.catch_up()
            done = time.perf_counter()
        finally:
            services.close()
            drop_schema(settings)
    n = args.messages
    lines = [
        f"validation: {n / (validated - start):,.0f} messages/s",
        f"storage transaction (dedupe, identity resolution, events; 1,000 per commit): "
        f"{n / (stored - validated):,.0f} messages/s",
        f"profile materializer: {folded / (done - stored):,.0f} events/s",
        f"all three on one core: {n / (done - start):,.0f} messages/s",
    ]
    print("\n".join(lines))
    if args.record:
        record(
            f"Ingest stages in one process, {args.backend}", " ".join(["python", *sys.argv]), lines
        )


if __name__ == "__main__":
    main()
