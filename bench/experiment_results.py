"""Experiment results: the bar of issue 12 (results for an experiment with 1,000,000 exposures
and 50,000 conversions in <= 2 s, SQLite and PostgreSQL). Usage:

    .venv/bin/python bench/experiment_results.py --backend sqlite|postgresql [--record]
        [--exposures 1000000] [--conversions 50000] [--noise 200000] [--runs 5]

Bulk-loads (COPY / executemany, relevo.storage.bulk) --exposures profiles (1% of them merged
into another, so the person resolution has work) with their assignment rows over 14 days in
two arms, --conversions Order Completed events inside the attribution window (and a tenth as
many in the CUPED pre-period), and --noise other events (Product Viewed) that the goal query
must skip. The experiment has three goals (conversion, revenue per visitor, AOV as a
guardrail). Then it times GET /v1/experiments/{id}/results through HTTP against `relevo serve`
and the analysis call alone (ExperimentAnalysis.results) in this process, --runs each, and
prints the median and the slowest; --record appends them to bench/RESULTS.md. The machine is
shared, so the figures are noisy.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import RealServer, drop_schema, fresh_settings, record
from relevo.experiments.analysis.service import ExperimentAnalysis
from relevo.services import Services
from relevo.settings import Settings
from relevo.storage import schema as t
from relevo.storage.bulk import insert_tuples
from relevo.storage.experiment_data import ExperimentDataStore
from relevo.storage.migrate import upgrade

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
START = 1_790_000_000_000
CHUNK = 100_000
DEFINITION: dict[str, Any] = {
    "id": "bench",
    "name": "Bench: hero copy",
    "kind": "experience",
    "variations": [{"id": "control", "weight": 1}, {"id": "b", "weight": 1}],
    "control": "control",
    "goals": [
        {"id": "orders", "name": "Orders", "event": "Order Completed", "metric": "conversion"},
        {"id": "revenue", "name": "Revenue", "event": "Order Completed", "metric": "revenue",
         "property": "revenue"},
    ],
    "guardrails": [
        {"id": "aov", "name": "AOV", "event": "Order Completed", "metric": "aov",
         "property": "revenue"},
    ],
    "analysis": {"alpha": 0.05, "cuped_days": 7},
}  # fmt: skip


def _chunks(rows: list[Any]) -> list[list[Any]]:
    return [rows[i : i + CHUNK] for i in range(0, len(rows), CHUNK)]


def load(services: Services, workspace_id: int, args: argparse.Namespace) -> None:
    rng = random.Random(12)
    n = args.exposures
    db = services.db
    with db.write() as conn:
        conn.execute(
            t.experiments.insert().values(
                workspace_id=workspace_id, experiment_id="bench", kind="experience",
                subject_id="hero", status="running", definition=DEFINITION,
                created_at=START, updated_at=START, started_at=START,
            )
        )  # fmt: skip
    first = 1_000_000_000  # profile ids of their own, clear of the sequence's
    profile_columns = ["id", "workspace_id", "created_at", "updated_at", "merged_into",
                       "traits", "trait_times", "computed"]  # fmt: skip
    # 1% of the profiles merged into the one before (a person exposed twice).
    profiles = [
        (first + i, workspace_id, START, START, first + i - 1 if i % 100 == 99 else None,
         "{}", "{}", "{}")
        for i in range(n)
    ]  # fmt: skip
    exposed = [START + rng.randrange(14 * DAY_MS) for _ in range(n)]
    arms = ["control" if rng.random() < 0.5 else "b" for _ in range(n)]
    devices = ("mobile", "desktop", "tablet")
    assignment_columns = ["workspace_id", "experiment_id", "profile_id", "variation_id",
                          "exposed_at", "device", "source", "visitor_type"]  # fmt: skip
    assignments = [
        (workspace_id, "bench", first + i, arms[i], exposed[i], devices[i % 3],
         "organic", "new" if i % 4 else "returning")
        for i in range(n)
    ]  # fmt: skip
    event_columns = ["workspace_id", "message_id", "profile_id", "type", "event", "timestamp",
                     "received_at", "payload"]  # fmt: skip
    events = []
    for k in range(args.conversions):
        i = rng.randrange(n)
        person = first + i - 1 if i % 100 == 99 else first + i  # events live on the survivor
        lift = 1.0 if arms[i] == "control" else 1.05
        at = exposed[i] + rng.randrange(48 * HOUR_MS)
        revenue = round(rng.uniform(10, 90) * lift, 2)
        payload = {"type": "track", "event": "Order Completed",
                   "properties": {"order_id": f"o{k}", "revenue": revenue}}  # fmt: skip
        events.append((workspace_id, f"o{k}", person, "track", "Order Completed", at, at,
                       orjson.dumps(payload).decode()))  # fmt: skip
    for k in range(args.conversions // 10):  # the CUPED pre-period's orders
        i = rng.randrange(n)
        at = exposed[i] - rng.randrange(1, 7 * DAY_MS)
        payload = {"type": "track", "event": "Order Completed", "properties": {"revenue": 30.0}}
        events.append((workspace_id, f"p{k}", first + i, "track", "Order Completed", at, at,
                       orjson.dumps(payload).decode()))  # fmt: skip
    for k in range(args.noise):
        i = rng.randrange(n)
        at = exposed[i] + rng.randrange(-DAY_MS, 3 * DAY_MS)
        payload = {"type": "track", "event": "Product Viewed", "properties": {"product_id": "1"}}
        events.append((workspace_id, f"v{k}", first + i, "track", "Product Viewed", at, at,
                       orjson.dumps(payload).decode()))  # fmt: skip
    for table, columns, rows in (
        (t.profiles, profile_columns, profiles),
        (t.experiment_assignments, assignment_columns, assignments),
        (t.events, event_columns, events),
    ):
        for chunk in _chunks(rows):
            with db.write() as conn:
                insert_tuples(conn, table, columns, chunk)
    if args.analyze:  # what autovacuum does to a table this size soon after the load
        if db.is_sqlite:
            with db.write() as conn:
                conn.exec_driver_sql("ANALYZE")
        else:
            with db.write_engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                for table in ("profiles", "experiment_assignments", "events"):
                    conn.exec_driver_sql(f"VACUUM (ANALYZE) {table}")


def timed(call: Any, runs: int) -> list[float]:
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - started)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], required=True)
    parser.add_argument("--exposures", type=int, default=1_000_000)
    parser.add_argument("--conversions", type=int, default=50_000)
    parser.add_argument("--noise", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--analyze", action="store_true", help="ANALYZE (PostgreSQL: VACUUM ANALYZE) after loading"
    )
    parser.add_argument("--record", action="store_true")
    parser.add_argument("--keep", action="store_true", help="Keep the database (to explain)")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp())
    fresh = fresh_settings(args.backend, tmp)
    # The server does not fold the bulk-loaded events into profiles while it is timed: a live
    # install's materializer has long caught up with them.
    settings = Settings(
        database_url=fresh.database_url,
        database_schema=fresh.database_schema,
        run_materializer=False,
    )
    services = Services.build(settings)
    try:
        upgrade(services.db)
        keys = services.workspaces.create("bench")
        started = time.perf_counter()
        load(services, keys.workspace.id, args)
        loaded = time.perf_counter() - started
        print(f"loaded in {loaded:.0f} s")
        analysis = ExperimentAnalysis(ExperimentDataStore(services.db))
        found = analysis.results(keys.workspace.id, "bench")
        print(f"units {found.units}, conversions "
              f"{ {v: s.x for v, s in found.metrics[0].arms.items()} }")  # fmt: skip
        in_process = timed(lambda: analysis.results(keys.workspace.id, "bench"), args.runs)
        with_breakdown = timed(
            lambda: analysis.results(keys.workspace.id, "bench", dimension="device"), 2
        )
    finally:
        services.close()
    server = RealServer(settings, workers=1)
    try:
        headers = {"Authorization": f"Bearer {keys.secret_key}"}
        url = f"{server.url}/v1/experiments/bench/results"

        def get() -> None:
            response = httpx.get(url, headers=headers, timeout=60)
            assert response.status_code == 200, response.text

        get()  # the server's first request opens its pools
        over_http = timed(get, args.runs)
    finally:
        server.stop()
        if args.keep:
            print(f"kept: {settings.database_url} {settings.database_schema or ''}")
        else:
            drop_schema(settings)
            shutil.rmtree(tmp, ignore_errors=True)

    def summary(values: list[float]) -> str:
        return f"median {statistics.median(values):.2f} s, slowest {max(values):.2f} s"

    lines = [
        f"{args.exposures:,} exposures (1% merged profiles), {args.conversions:,} conversions, "
        f"{args.noise:,} other events; 2 goals + 1 guardrail, CUPED 7 days"
        + ("; (VACUUM) ANALYZE after loading" if args.analyze else "; no ANALYZE after loading"),
        f"GET /v1/experiments/{{id}}/results over HTTP ({args.runs} runs): {summary(over_http)}",
        f"analysis call alone ({args.runs} runs): {summary(in_process)}",
        f"with ?dimension=device (analysis call, 2 runs): {summary(with_breakdown)}",
    ]
    for line in lines:
        print(line)
    if args.record:
        command = " ".join(["bench/experiment_results.py", *sys.argv[1:]])
        record(f"Experiment results, {args.backend}", command, lines)


if __name__ == "__main__":
    main()
