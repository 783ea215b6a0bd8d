"""Recommendation serving under load, and training cost, on a large synthetic shop (50,000
products, 100,000 visitors; bench/synthetic_shop.py). Usage:

    .venv/bin/python bench/recs_latency.py --backend sqlite [--rate 500] [--seconds 15] [--rules]
                                           [--record]

Loads the shop through the storage layer, trains with `relevo train` in its own process (wall
time and peak memory of that process), starts `relevo serve --workers 2`, then sends each
strategy an open-loop stream of requests at --rate per second (random known visitors and
products in view, bench/loadgen.py) and reports server-side time (the Server-Timing header)
and client latency from the scheduled send time. With --rules, every strategy is measured a
second time on the same server with five merchandising rules active (RULES: a filter, a boost,
a bury, a diversity cap and a brand conflict, over the live catalog of 50,000 products).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from common import RealServer, drop_schema, fresh_settings, record
from loadgen import open_loop, post_request
from synthetic_shop import messages, products

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from relevo.catalog.product import Product
from relevo.services import Services
from relevo.storage.migrate import upgrade
from relevo.tracking.jobs import IngestJob
from relevo.tracking.messages import TrackedMessage, validate_message
from tests.real_server import RELEVO, environment

RULES: list[dict[str, Any]] = [
    {"id": "no-brands-1-9", "kind": "filter", "mode": "exclude",
     "condition": {"field": "brand", "op": "in", "value": [f"brand {b}" for b in range(1, 10)]}},
    {"id": "department-3-first", "kind": "boost", "factor": 2,
     "condition": {"field": "category", "op": "under", "value": "Department 3"}},
    {"id": "bury-expensive", "kind": "bury", "factor": 2,
     "condition": {"field": "price", "op": "gte", "value": 90}},
    {"id": "max-2-per-brand", "kind": "diversity", "attribute": "brand", "max_per_value": 2},
    {"id": "brand-wars", "kind": "brand_conflict", "brands": [["brand 10"], ["brand 11"]]},
]  # fmt: skip
STRATEGIES = ["for_you", "similar", "bought_together", "bought_after", "session",
              "recently_viewed", "trending", "rerank"]  # fmt: skip


def load_shop(services: Services, visitors: int, n_products: int) -> tuple[int, str, float]:
    started = time.perf_counter()
    keys = services.workspaces.create("bench")
    now = int(time.time() * 1000)
    catalog = [Product.model_validate(p) for p in products(n_products)]
    services.catalog.upsert(keys.workspace.id, catalog, now)
    batch: list[TrackedMessage] = []
    for raw in messages(visitors, n_products):
        stamp = int(raw.pop("timestamp_ms"))  # type: ignore[call-overload]
        raw["timestamp"] = dt.datetime.fromtimestamp(stamp / 1000, dt.UTC).isoformat()
        result = validate_message(raw, now)
        assert isinstance(result, TrackedMessage), result
        batch.append(result)
        if len(batch) == 2000:
            services.ingest.write_many([IngestJob(keys.workspace.id, batch, [])], now)
            batch = []
    services.ingest.write_many([IngestJob(keys.workspace.id, batch, [])], now)
    services.materializer.catch_up()
    return keys.workspace.id, keys.secret_key, time.perf_counter() - started


def train(settings_env: dict[str, str], workspace: str = "bench") -> tuple[float, float, str]:
    """`relevo train` in a child process: wall seconds, peak RSS in MiB, its output."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [RELEVO, "train", "--workspace", workspace],
        env=settings_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    _, status, usage = os.wait4(process.pid, 0)
    output = process.stdout.read() if process.stdout else ""
    assert os.waitstatus_to_exitcode(status) == 0, output
    return time.perf_counter() - started, usage.ru_maxrss / 1024, output


def body(strategy: str, rng: random.Random, visitors: int, n_products: int) -> dict[str, Any]:
    product = f"p{rng.randrange(n_products)}"
    request: dict[str, Any] = {
        "strategy": strategy,
        "identity": {"kind": "anonymous_id", "value": f"anon-{rng.randrange(visitors)}"},
        "context": {"product_id": product},
        "limit": 10,
    }
    if strategy == "rerank":
        request["context"] = {"candidates": [f"p{rng.randrange(n_products)}" for _ in range(50)]}
    return request


def warm_up(url: str, secret: str, visitors: int, n_products: int) -> None:
    """Each worker loads the model bundle on its first request: keep asking (on fresh
    connections, so both workers are reached) until every answer comes from a model."""
    rng = random.Random(0)
    headers = {"Authorization": f"Bearer {secret}"}
    answered = 0
    deadline = time.monotonic() + 120
    while answered < 20 and time.monotonic() < deadline:
        with httpx.Client(base_url=url, timeout=60) as http:
            payload = body("for_you", rng, visitors, n_products)
            response = http.post("/v1/recommendations", json=payload, headers=headers)
            response.raise_for_status()
            answered = answered + 1 if response.json()["model_version"] else 0


def load(
    url: str,
    secret: str,
    strategy: str,
    rate: float,
    seconds: float,
    visitors: int,
    n_products: int,
) -> dict[str, float]:
    rng = random.Random(strategy)
    headers = {"Authorization": f"Bearer {secret}"}
    host = url.split("//", 1)[1]
    requests = [
        post_request(
            host, "/v1/recommendations", body(strategy, rng, visitors, n_products), headers
        )
        for _ in range(int(rate * seconds))
    ]
    samples, achieved = asyncio.run(open_loop(url, requests, rate))
    ok = [s for s in samples if s.status == 200]
    server = [s.server_ms for s in ok if s.server_ms is not None]
    client = [s.client_ms for s in ok]
    return {
        "requests": len(requests),
        "rate": achieved,
        "errors": len(samples) - len(ok),
        "server_p50": float(np.percentile(server, 50)),
        "server_p99": float(np.percentile(server, 99)),
        "client_p50": float(np.percentile(client, 50)),
        "client_p99": float(np.percentile(client, 99)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--rate", type=float, default=500)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--visitors", type=int, default=100_000)
    parser.add_argument("--products", type=int, default=50_000)
    parser.add_argument("--strategy", action="append", choices=STRATEGIES)
    parser.add_argument("--rules", action="store_true", help="then again with five rules")
    parser.add_argument("--record", action="store_true")
    args = parser.parse_args()
    lines: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        settings = fresh_settings(args.backend, Path(tmp))
        settings = settings.model_copy(update={"models_dir": f"{tmp}/models"})
        settings.model_fields_set.add("models_dir")
        services = Services.build(settings)
        try:
            upgrade(services.db)
            workspace_id, secret, seconds = load_shop(services, args.visitors, args.products)
            lines.append(
                f"shop: {args.products:,} products, {args.visitors:,} visitors "
                f"(profiles), loaded in {seconds:.0f} s"
            )
            print(lines[-1], flush=True)
            wall, peak, _ = train(environment(settings))
            fits = json.loads(next(Path(tmp, "models").glob("*/*/manifest.json")).read_text())[
                "stats"
            ]["fit_seconds"]
            lines.append(
                f"`relevo train`: {wall:.0f} s wall, peak memory {peak:,.0f} MiB; fit seconds "
                + ", ".join(f"{k} {v:.1f}" for k, v in fits.items())
            )
            print(lines[-1], flush=True)
            server = RealServer(settings, workers=2)
            try:
                warm_up(server.url, secret, args.visitors, args.products)
                lines.append(
                    f"serving: `relevo serve --workers 2`, open-loop {args.rate:.0f} requests/s "
                    f"for {args.seconds:.0f} s per strategy, limit 10 (rerank: 50 candidates)"
                )
                for with_rules in [False, True] if args.rules else [False]:
                    if with_rules:
                        for rule in RULES:
                            services.merchandising.create(
                                workspace_id, str(rule["id"]), rule, None, int(time.time() * 1000)
                            )
                        time.sleep(2)  # every worker looks for rule changes once a second
                        warm_up(server.url, secret, args.visitors, args.products)
                        lines.append("")
                        lines.append("with five rules: " + ", ".join(r["id"] for r in RULES))
                    lines.append("")
                    lines.append("| strategy | achieved req/s | errors | server p50 ms "
                                 "| server p99 ms | client p50 ms | client p99 ms |")  # fmt: skip
                    lines.append("|---|---|---|---|---|---|---|")
                    for strategy in args.strategy or STRATEGIES:
                        r = load(server.url, secret, strategy, args.rate, args.seconds,
                                 args.visitors, args.products)  # fmt: skip
                        lines.append(
                            f"| {strategy} | {r['rate']:.0f} | {r['errors']:.0f} | "
                            f"{r['server_p50']:.1f} | {r['server_p99']:.1f} | "
                            f"{r['client_p50']:.1f} | {r['client_p99']:.1f} |"
                        )
                        print(lines[-1], flush=True)
            except Exception:
                print(server.log()[-4000:], file=sys.stderr)  # what the server said, if it died
                raise
            finally:
                server.stop()
        finally:
            services.close()
            drop_schema(settings)
    if args.record:
        record(
            f"Recommendations under load, {args.backend}",
            " ".join(["python", *sys.argv]),
            lines[:2],
        )
        with Path(__file__).with_name("RESULTS.md").open("a") as handle:
            handle.write("\n".join(lines[2:]) + "\n\n")


if __name__ == "__main__":
    main()
