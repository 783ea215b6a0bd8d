"""Audiences: the bars of issue 10. Usage:

    .venv/bin/python bench/audiences.py fold              # profile fold cost per event
    .venv/bin/python bench/audiences.py inprocess         # 50 audiences for one visitor
    .venv/bin/python bench/audiences.py http --backend sqlite [--rate 500] [--seconds 20]
    .venv/bin/python bench/audiences.py preview --backend sqlite|postgresql [--profiles 100000]
    add --record to append the figures to bench/RESULTS.md

`inprocess` times `Audiences.of_identity`'s judging for one visitor (document + 50 compiled
audiences, 13 built-in and 37 saved, a third of them behaviour conditions): the fast path
(`matching`, no reasons) and the one with every reason written. `http` seeds 10,000 profiles,
saves the 37 audiences, starts `relevo serve --workers 2` and sends `GET
/v1/profiles/user_id/<u>/audiences` at --rate with wrk (bench/wrk/audiences.lua), latency
counted from each request's scheduled send time. `preview`
seeds --profiles profiles (computed state folded from ~4 synthetic events each, written
straight to the profiles table) and times `POST /v1/audiences/preview`'s work for a behaviour
condition. Figures are medians of --runs; the machine is shared, so they are noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import fresh_settings, message, record, wait_for_profiles
from bench.ingest_wrk import cpu_seconds
from relevo.audiences.service import Audiences
from relevo.profiles.lifecycle import LifecycleThresholds
from relevo.profiles.state import EventRecord, ProfileRules, rebuild
from relevo.services import Services
from relevo.storage import schema as t
from relevo.storage.migrate import upgrade
from tests.databases import drop_schema
from tests.real_server import RealServer

LUA = Path(__file__).with_name("wrk") / "audiences.lua"
DAY_MS = 86_400_000


def saved_audiences() -> list[dict[str, Any]]:
    """37 audiences of the kinds a shop saves: traits, computed attributes, accounts, the
    request, and behaviour (a third)."""
    found: list[dict[str, Any]] = []
    for n in range(12):
        found.append(
            {
                "$event": {
                    "name": ["Product Viewed", "Product Added", "Order Completed"][n % 3],
                    "within": f"{7 * (1 + n % 4)}d",
                    **({"where": {"category": f"category-{n}"}} if n % 2 else {}),
                    "count": {"$gte": 1 + n % 3},
                }
            }
        )
    found.append(
        {
            "$event": {
                "name": "Order Completed",
                "within": "90d",
                "sum": "revenue",
                "total": {"$gte": 50},
            }
        }
    )
    for n in range(8):
        found.append({"computed.top_categories": {"$in": [f"category-{n}", f"category-{n + 8}"]}})
    for n in range(6):
        found.append(
            {
                "$and": [
                    {"computed.orders": {"$gte": n}},
                    {"computed.device.type": ["desktop", "mobile"][n % 2]},
                ]
            }
        )
    for n in range(5):
        found.append(
            {
                "$or": [
                    {"traits.email": {"$regex": f"^user{n}"}},
                    {"context.page.path": {"$regex": f"^/c/{n}"}},
                ]
            }
        )
    for n in range(5):
        found.append({"accounts": {"$elemMatch": {"traits.plan": f"plan-{n}"}}})
    return [{"id": f"a{n}", "name": f"audience {n}", "condition": c} for n, c in enumerate(found)]


def folded_profiles(count: int, seed: int = 7) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(traits, computed) of ``count`` people, each folded from ~4 synthetic events of the last
    30 days."""
    rng = random.Random(seed)
    now = int(time.time() * 1000)
    rules = ProfileRules()
    events: dict[int, list[EventRecord]] = {}
    for n in range(count * 4):
        visitor = rng.randrange(count)
        msg = message(rng, n, count)
        ts = now - rng.randrange(30 * DAY_MS)
        events.setdefault(visitor, []).append(
            EventRecord(n, msg["type"], msg.get("event"), ts, msg)
        )
    return [
        ({"email": f"user{v}@example.com"}, rebuild(events.get(v, []), rules)) for v in range(count)
    ]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


class NoStore:
    """Saved audiences given in memory (the in-process bench reads no database)."""

    def __init__(self, rows: list[Any]) -> None:
        self.rows = rows

    def saved(self, workspace_id: int) -> list[Any]:
        return self.rows


def in_process(args: argparse.Namespace) -> list[str]:
    from relevo.audiences.records import StoredAudience

    rows = [StoredAudience(a["id"], a["name"], "", a["condition"], 0, 0) for a in saved_audiences()]
    audiences = Audiences(NoStore(rows), ProfileRules(), LifecycleThresholds())  # type: ignore[arg-type]
    assert len(audiences.all(1)) == 50
    people = folded_profiles(2000)
    context = {
        "page": {"url": "https://shop.example/c/3/chairs?utm_medium=email"},
        "userAgent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) Mobile",
    }
    from relevo.audiences.context import request_context
    from relevo.audiences.model import matching, memberships

    results: dict[str, list[float]] = {"fast": [], "why": [], "fast_p50": [], "why_p50": []}
    for _ in range(args.runs):
        for name in ("fast", "why"):
            times = []
            for traits, computed in people:
                start = time.perf_counter()
                now = int(time.time() * 1000)
                document = audiences.document(traits, computed, now, request_context(context, now))
                if name == "fast":
                    matching(audiences.all(1), document, computed, now, 1_800_000)
                else:
                    for m in memberships(audiences.all(1), document, computed, now, 1_800_000):
                        if m.matched:
                            _ = m.why
                times.append((time.perf_counter() - start) * 1000)
            results[name].append(percentile(times, 99))
            results[name + "_p50"].append(percentile(times, 50))
    return [
        f"50 audiences (13 built-in, 37 saved, 13 behaviour) for one visitor, document and "
        f"request context included, {len(people)} visitors x {args.runs} runs:",
        f"  matching (no reasons): p50 {statistics.median(results['fast_p50']):.3f} ms, "
        f"p99 {statistics.median(results['fast']):.3f} ms (median of runs: "
        f"{', '.join(f'{v:.3f}' for v in results['fast'])})",
        f"  with the reasons of the matched: p50 {statistics.median(results['why_p50']):.3f} ms, "
        f"p99 {statistics.median(results['why']):.3f} ms",
    ]


def seed(
    services: Services, workspace_id: int, people: list[tuple[dict[str, Any], dict[str, Any]]]
) -> None:
    """Profiles and their user ids written straight to the tables (as the materializer would
    leave them), 2,000 rows an insert."""
    now = int(time.time() * 1000)
    with services.db.write() as conn:
        start_id = (
            conn.execute(
                t.profiles.select()
                .with_only_columns(t.profiles.c.id)
                .order_by(t.profiles.c.id.desc())
                .limit(1)
            ).scalar()
            or 0
        )
    for start in range(0, len(people), 2000):
        chunk = people[start : start + 2000]
        ids = range(start_id + start + 1, start_id + start + 1 + len(chunk))
        with services.db.write() as conn:
            conn.execute(
                t.profiles.insert(),
                [
                    {
                        "id": pid,
                        "workspace_id": workspace_id,
                        "created_at": now,
                        "updated_at": now,
                        "traits": traits,
                        "trait_times": {},
                        "computed": computed,
                    }
                    for pid, (traits, computed) in zip(ids, chunk, strict=True)
                ],
            )
            conn.execute(
                t.identities.insert(),
                [
                    {
                        "value": f"u{start + n}",
                        "kind": "user_id",
                        "workspace_id": workspace_id,
                        "profile_id": pid,
                        "created_at": now,
                    }
                    for n, pid in enumerate(ids)
                ],
            )


def preview(args: argparse.Namespace) -> list[str]:
    tmp = Path(tempfile.mkdtemp())
    settings = fresh_settings(args.backend, tmp)
    services = Services.build(settings)
    try:
        upgrade(services.db)
        keys = services.workspaces.create("bench-audiences")
        started = time.perf_counter()
        seed(services, keys.workspace.id, folded_profiles(args.profiles))
        seeded = time.perf_counter() - started
        condition = {
            "$event": {
                "name": "Product Viewed",
                "within": "14d",
                "where": {"category": "category-3"},
                "count": {"$gte": 1},
            }
        }
        times, counts = [], []
        for _ in range(args.runs):
            start = time.perf_counter()
            found = services.audiences.preview(keys.workspace.id, condition)
            times.append(time.perf_counter() - start)
            counts.append(found.count)
        combined = {"$and": [condition, {"computed.orders": {"$gte": 1}}]}
        start = time.perf_counter()
        both = services.audiences.preview(keys.workspace.id, combined)
        combined_s = time.perf_counter() - start
    finally:
        services.close()
        drop_schema(settings)
        shutil.rmtree(tmp, ignore_errors=True)
    return [
        f"backend: {args.backend}; {args.profiles} profiles seeded in {seeded:.1f} s",
        f"preview of {json.dumps(condition)}: {counts[0]} of {found.profiles} match; "
        f"median {statistics.median(times):.2f} s (runs: {', '.join(f'{s:.2f}' for s in times)})",
        f"with an $and on computed.orders: {both.count} match, {combined_s:.2f} s",
    ]


def http(args: argparse.Namespace) -> list[str]:
    tmp = Path(tempfile.mkdtemp())
    settings = fresh_settings(args.backend, tmp)
    services = Services.build(settings)
    server = None
    try:
        upgrade(services.db)
        keys = services.workspaces.create("bench-audiences-http")
        seed(services, keys.workspace.id, folded_profiles(args.people))
        for audience in saved_audiences():
            services.audiences.create(
                keys.workspace.id, audience["id"], audience["name"], "", audience["condition"]
            )
        server = RealServer(settings, workers=2)
        wrk = shutil.which("wrk") or sys.exit("wrk not found (apt-get install wrk)")
        settled = None if args.during_backfill else settle(services)
        figures = []
        for _ in range(args.runs):
            before = cpu_seconds(server.process.pid)
            out = subprocess.run(
                [
                    wrk,
                    "-t2",
                    f"-c{args.connections}",
                    f"-d{args.seconds}s",
                    "-s",
                    str(LUA),
                    server.url,
                    "--",
                    keys.secret_key,
                    str(args.people),
                    str(args.rate),
                    "2",  # wrk threads, as -t2
                ],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            line = next(x for x in out.splitlines() if x.startswith("relevo-wrk result "))
            figure = json.loads(line.removeprefix("relevo-wrk result "))
            after = cpu_seconds(server.process.pid)
            # CPU per request is far less disturbed by other work on the machine than latency
            # (PostgreSQL's counts every postgres process, other users' too).
            for part in ("workers", "postgres"):
                figure[f"{part}_ms"] = (after[part] - before[part]) / figure["requests"] * 1000
            figures.append(figure)
    finally:
        if server is not None:
            server.stop()
        services.close()
        drop_schema(settings)
        shutil.rmtree(tmp, ignore_errors=True)
    p99 = [f["p99"] / 1000 for f in figures]
    return [
        f"backend: {args.backend}; {args.people} profiles, 50 audiences; wrk -t2 "
        f"-c{args.connections} scheduled at {args.rate} req/s for {args.seconds} s, "
        f"{args.runs} runs",
        "measured during the backfill: the audience job's first judging of the seeded profiles "
        "and the materializer's folding of its Audience Entered events ran beside the load"
        if settled is None
        else f"measured after the backfill (the audience job's first judging of the seeded "
        f"profiles and the materializer's folding of its Audience Entered events: "
        f"{settled:.1f} s after the server started)",
        *[
            f"run: {f['requests'] / f['seconds']:.0f} req/s, p50 {f['p50'] / 1000:.2f} ms, "
            f"p90 {f['p90'] / 1000:.2f} ms, p99 {f['p99'] / 1000:.2f} ms, errors {f['errors']}, "
            f"non-2xx {f['non2xx']} (from the scheduled send; wrk's own from the write: p99 "
            f"{f['wrk_p99'] / 1000:.2f} ms); CPU per request: workers {f['workers_ms']:.2f} "
            f"ms, postgres {f['postgres_ms']:.2f} ms"
            for f in figures
        ],
        f"median p99: {statistics.median(p99):.2f} ms",
    ]


def settle(services: Services, timeout: float = 300.0) -> float:
    """Seconds until the server's audience job has judged the seeded workspace once (its
    checkpoint moves when a run ends) and the materializer has folded what that run recorded:
    the one-off backfill of new audiences, after which a shop's server runs in steady state
    (the periodic full sweep is paced to half a core)."""
    started = time.monotonic()
    store = services.audiences.store
    while store.job_checkpoint() == 0:  # type: ignore[attr-defined]
        if time.monotonic() - started > timeout:
            sys.exit("the audience job did not finish its first run")
        time.sleep(0.2)
    wait_for_profiles(services.db.write_engine, timeout)
    return time.monotonic() - started


def fold(args: argparse.Namespace) -> list[str]:
    rng = random.Random(3)
    now = int(time.time() * 1000)
    by: dict[str, list[EventRecord]] = {}
    for i in range(60_000):
        msg = message(rng, i, 2000)
        # a visitor's events within a few days, as in a shop's stream
        ts = now - (int(msg["anonymousId"].split("-")[1]) % 30) * DAY_MS - rng.randrange(3 * DAY_MS)
        by.setdefault(msg["anonymousId"], []).append(
            EventRecord(i, msg["type"], msg.get("event"), ts, msg)
        )
    rules = ProfileRules()
    runs = []
    for _ in range(args.runs):
        start = time.perf_counter()
        for records in by.values():
            rebuild(records, rules)
        runs.append((time.perf_counter() - start) / 60_000 * 1e6)
    return [
        f"rebuild of 2,000 profiles from 60,000 bench events (bench/common.py's mix): median "
        f"{statistics.median(runs):.2f} us per event (runs: {', '.join(f'{r:.2f}' for r in runs)})"
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=["fold", "inprocess", "http", "preview"])
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--profiles", type=int, default=100_000)
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--rate", type=int, default=500)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--record", action="store_true")
    parser.add_argument(
        "--during-backfill",
        action="store_true",
        help="http: measure from the server's start, while new audiences are first judged",
    )
    args = parser.parse_args()
    lines = {"fold": fold, "inprocess": in_process, "http": http, "preview": preview}[args.part](
        args
    )
    lines.append(
        "load average at the end (1, 5, 15 min; 2 cores shared with other work): "
        + ", ".join(f"{x:.1f}" for x in os.getloadavg())
    )
    for line in lines:
        print(line)
    if args.record:
        title = {
            "fold": "Profile fold with behaviour counters",
            "inprocess": "Audiences: 50 for one visitor, in-process",
            "http": "Audiences: GET /v1/profiles/{kind}/{value}/audiences under load",
            "preview": "Audiences: preview of a behaviour condition",
        }[args.part]
        record(title, "python bench/audiences.py " + " ".join(sys.argv[1:]), lines)


if __name__ == "__main__":
    main()
