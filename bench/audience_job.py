"""The audience job's cost with and without the built-in audiences, in one process. Usage:

    .venv/bin/python bench/audience_job.py --backend sqlite|postgresql [--profiles 20000]

Each case gets a fresh database with --profiles seeded profiles (bench/audiences.py's
`folded_profiles`, written straight to the table) and times four runs of `AudienceJob`: the
first sweep of every profile (everyone's Entered recorded), a run with no profile changed
(every 2 s), one with 1,000 profiles changed (a busy shop's 2 s), and a sweep of every profile
with nothing to record (once an hour). Cases: the 37 saved audiences of bench/audiences.py
alone (the job before it followed the built-ins), with the 13 built-ins (now), and a workspace
with no saved audience (before: not judged at all; now: the built-ins). Unpaced (the job's
thread waits as long as each chunk took).
"""

from __future__ import annotations

import argparse
import copy
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.audiences import folded_profiles, saved_audiences, seed
from bench.common import fresh_settings
from relevo.audiences.job import AudienceJob, JobReport
from relevo.services import Services
from relevo.storage import schema as t
from relevo.storage.audience_store import AudienceStore
from relevo.storage.migrate import upgrade
from tests.databases import drop_schema

CHANGED = 1000


class TimedStore(AudienceStore):
    """The job's store, timing each transaction that records changes (it holds the ingest
    lock: ingest waits meanwhile)."""

    longest = 0.0
    transactions = 0

    def record_changes(self, *args: Any, **kwargs: Any) -> None:
        started = time.perf_counter()
        super().record_changes(*args, **kwargs)
        self.longest = max(self.longest, time.perf_counter() - started)
        self.transactions += 1


def touch(services: Services, workspace_id: int, count: int) -> None:
    """``count`` profiles saved again now, as the materializer does after their events."""
    p = t.profiles.c
    first = select(p.id).where(p.workspace_id == workspace_id).order_by(p.id).limit(count)
    with services.db.write() as conn:
        conn.execute(
            update(t.profiles)
            .where(p.id.in_(first.scalar_subquery()))
            .values(updated_at=int(time.time() * 1000) + 5_000)
        )


def timed(job: AudienceJob, full: bool) -> tuple[float, JobReport]:
    if full:
        job._last_full = None  # as at the hourly sweep
    started = time.perf_counter()
    report = job.run_once()
    return time.perf_counter() - started, report


def case(backend: str, profiles: int, builtins: bool, saved: bool) -> str:
    tmp = Path(tempfile.mkdtemp())
    settings = fresh_settings(backend, tmp)
    services = Services.build(settings)
    try:
        upgrade(services.db)
        keys = services.workspaces.create("bench-audience-job")
        seed(services, keys.workspace.id, folded_profiles(profiles))
        for audience in saved_audiences() if saved else []:
            services.audiences.create(
                keys.workspace.id, audience["id"], audience["name"], "", audience["condition"]
            )
        audiences = services.audiences
        if not builtins:  # the job as it was: saved audiences only
            audiences = copy.copy(audiences)
            audiences.builtins = []
        store = TimedStore(services.db)
        job = AudienceJob(audiences, store)
        first, recorded = timed(job, full=True)
        store.set_job_checkpoint(int(time.time() * 1000) + 3_000)  # past the slack
        unchanged, _ = timed(job, full=False)
        touch(services, keys.workspace.id, CHANGED)
        changed, _ = timed(job, full=False)
        hourly, swept = timed(job, full=True)
    finally:
        services.close()
        drop_schema(settings)
        shutil.rmtree(tmp, ignore_errors=True)
    name = f"{'13 built-ins' if builtins else 'no built-in'} + {37 if saved else 0} saved"
    return (
        f"{name:>24}: first sweep {first:6.2f} s ({recorded.judged} judged, "
        f"{recorded.entered} Entered recorded in {store.transactions} transactions, longest "
        f"{store.longest:.2f} s); nothing changed {unchanged:5.3f} s; "
        f"{CHANGED:,} changed {changed:5.3f} s; "
        f"hourly sweep {hourly:6.2f} s ({swept.entered + swept.exited} changes)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--profiles", type=int, default=20_000)
    args = parser.parse_args()
    print(f"backend: {args.backend}; {args.profiles} profiles; unpaced runs")
    for builtins, saved in [(False, True), (True, True), (True, False)]:
        print(case(args.backend, args.profiles, builtins, saved), flush=True)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"load average at the end (1, 5, 15 min; 2 cores shared with other work): {load}")


if __name__ == "__main__":
    main()
