"""The decision API under load: the bar of issue 11. Usage:

    .venv/bin/python bench/decide_wrk.py --backend sqlite|postgresql [--rate 300]
        [--seconds 20] [--runs 3] [--visitors 100000] [--products 50000] [--record]

Loads the synthetic shop of bench/recs_latency.py (50,000 products, 100,000 visitors with
their events: profiles), trains it with `relevo train`, saves 37 audiences (with the 13
built-in ones: 50; bench/audiences.py's, a third behaviour conditions), three placements
(a home banner and two product-page recommendation blocks) and 20 experiences over them
(audience-targeted, templates reading the profile, recommendation variants, a URL trigger,
frequency caps), starts `relevo serve --workers 2` and sends `POST /v1/decide` for the three
placements, a random known visitor and product in view, at --rate with wrk
(bench/wrk/decide.lua): client latency counted from each request's scheduled send time, next
to the server's own time (Server-Timing), and which branch filled each placement.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

from bench.audiences import saved_audiences, settle  # noqa: E402
from bench.common import fresh_settings, record  # noqa: E402
from bench.ingest_wrk import cpu_seconds  # noqa: E402
from bench.recs_latency import load_shop, train  # noqa: E402
from relevo.services import Services  # noqa: E402
from relevo.storage.migrate import upgrade  # noqa: E402
from tests.databases import drop_schema  # noqa: E402
from tests.real_server import RealServer, environment  # noqa: E402

LUA = BENCH / "wrk" / "decide.lua"
PLACEMENTS: list[dict[str, Any]] = [
    {"id": "home-hero", "name": "Home hero", "kind": "banner", "selector": "#hero",
     "default": {"content": {"headline": "Welcome"},
                 "template": "<h2>{{ content.headline }}</h2>"}},
    {"id": "pdp-similar", "name": "Similar items", "kind": "recommendations",
     "recommendations": {"strategy": "similar", "count": 8}},
    {"id": "pdp-together", "name": "Bought together", "kind": "recommendations",
     "recommendations": {"strategy": "bought_together", "count": 4}},
]  # fmt: skip


def experiences(audience_ids: list[str]) -> list[dict[str, Any]]:
    """20 experiences: 8 banners, 6 and 6 recommendation variants, each for an audience."""
    found: list[dict[str, Any]] = []
    for n in range(8):
        found.append(
            {
                "id": f"banner-{n}",
                "placement": "home-hero",
                "audience": audience_ids[n],
                "priority": n,
                "frequency": {"per_day": 1000},
                "label": "Picked for you" if n % 2 else None,
                "variants": [
                    {
                        "id": "a",
                        "content": {"headline": f"Offer {n}", "cta": "Shop now"},
                        "template": "<h2>{{ content.headline }}</h2><p>Hello "
                        "{{ profile.first_name or 'there' }}</p>",
                    },
                    {"id": "b", "content": {"headline": f"Offer {n}b"}},
                ],
            }
        )
    strategies = ["for_you", "similar", "trending"]
    for n in range(12):
        placement = "pdp-similar" if n < 6 else "pdp-together"
        found.append(
            {
                "id": f"recs-{n}",
                "placement": placement,
                "audience": audience_ids[8 + n],
                "priority": n,
                **({"trigger": {"type": "page_view", "url": "/products/*"}} if n % 3 == 0 else {}),
                "variants": [
                    {
                        "id": "a",
                        "recommendations": {"strategy": strategies[n % 3], "count": 6},
                        "content": {"title": "You may also like"},
                    }
                ],
            }
        )
    return found


def set_up(services: Services, workspace_id: int) -> int:
    ids = []
    for audience in saved_audiences():
        services.audiences.create(
            workspace_id, audience["id"], audience["name"], "", audience["condition"]
        )
        ids.append(audience["id"])
    for placement in PLACEMENTS:
        services.experiences.upsert_placement(workspace_id, placement)
    made = experiences(ids)
    for experience in made:
        services.experiences.upsert_experience(workspace_id, experience)
    return len(ids) + len(services.audiences.builtins)


def warm_up(url: str, secret: str) -> dict[str, Any]:
    """Each worker loads the model on its first request: ask on fresh connections until
    twenty answers in a row have recommendations; the last answer is returned."""
    answered, last = 0, {}
    deadline = time.monotonic() + 180
    body = {
        "identity": {"kind": "anonymous_id", "value": "anon-1"},
        "context": {"product": {"product_id": "p1"}},
        "placements": ["home-hero", "pdp-similar", "pdp-together"],
    }
    while answered < 20 and time.monotonic() < deadline:
        with httpx.Client(base_url=url, timeout=60) as http:
            response = http.post(
                "/v1/decide", json=body, headers={"Authorization": f"Bearer {secret}"}
            )
            response.raise_for_status()
            last = response.json()
            similar = last["placements"]["pdp-similar"].get("recommendations") or {}
            answered = answered + 1 if similar.get("items") else 0
    if answered < 20:
        sys.exit(f"decisions never carried recommendations: {json.dumps(last)[:2000]}")
    return last


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--rate", type=int, default=300)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--warm-seconds", type=int, default=30, help="unrecorded warm-up")
    parser.add_argument("--visitors", type=int, default=100_000)
    parser.add_argument("--products", type=int, default=50_000)
    parser.add_argument("--record", action="store_true")
    args = parser.parse_args()
    wrk = shutil.which("wrk") or sys.exit("wrk not found (apt-get install wrk)")
    lines: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        settings = fresh_settings(args.backend, Path(tmp))
        settings = settings.model_copy(update={"models_dir": f"{tmp}/models"})
        settings.model_fields_set.add("models_dir")
        services = Services.build(settings)
        server = None
        try:
            upgrade(services.db)
            workspace_id, secret, seconds = load_shop(services, args.visitors, args.products)
            audiences = set_up(services, workspace_id)
            lines.append(
                f"backend: {args.backend}; {args.products:,} products, {args.visitors:,} "
                f"visitors (profiles) loaded in {seconds:.0f} s; {audiences} audiences, "
                f"{len(PLACEMENTS)} placements, 20 experiences"
            )
            print(lines[-1], flush=True)
            wall, _, _ = train(environment(settings))
            print(f"trained in {wall:.0f} s", flush=True)
            server = RealServer(settings, workers=2)
            # The audience job's first judging of the 100,000 profiles (a one-off backfill
            # in the supervisor) is over before the load starts, as in bench/audiences.py.
            settled = settle(services, timeout=900)
            print(f"audience job's first run done {settled:.0f} s after the start", flush=True)
            sample = warm_up(server.url, secret)
            answered = {k: v["source"] for k, v in sample["placements"].items()}
            print(f"a decision: {answered}", flush=True)
            lines.append(
                f"`relevo serve --workers 2`, after the audience job's first run over the "
                f"profiles ({settled:.0f} s); wrk -t2 -c{args.connections} scheduled at "
                f"{args.rate} decisions/s for {args.seconds} s, {args.runs} runs after "
                f"{args.warm_seconds} s of unrecorded warm-up, 3 placements each (home-hero, "
                "pdp-similar, pdp-together); latency from the scheduled send"
            )
            figures = []
            # Product cards are cached per worker: a run over a cold cache reads most of them
            # from the database. Warm it at the same rate first (not recorded).
            if args.warm_seconds:
                subprocess.run(
                    [wrk, "-t2", f"-c{args.connections}", f"-d{args.warm_seconds}s", "-s",
                     str(LUA), server.url, "--", secret, str(args.visitors), str(args.products),
                     str(args.rate), "2"],
                    capture_output=True, check=True,
                )  # fmt: skip
            for _ in range(args.runs):
                before = cpu_seconds(server.process.pid)
                command = [
                    wrk, "-t2", f"-c{args.connections}", f"-d{args.seconds}s", "-s", str(LUA),
                    server.url, "--", secret, str(args.visitors), str(args.products),
                    str(args.rate), "2",
                ]  # fmt: skip
                out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
                line = next(x for x in out.splitlines() if x.startswith("relevo-wrk result "))
                figure = json.loads(line.removeprefix("relevo-wrk result "))
                after = cpu_seconds(server.process.pid)
                for part in ("workers", "postgres"):
                    figure[f"{part}_ms"] = (after[part] - before[part]) / figure["requests"] * 1000
                figures.append(figure)
                lines.append(
                    f"run: {figure['requests'] / figure['seconds']:.0f} decisions/s; client "
                    f"p50 {figure['client']['p50'] / 1000:.2f} ms, p99 "
                    f"{figure['client']['p99'] / 1000:.2f} ms, p99.9 "
                    f"{figure['client']['p99.9'] / 1000:.2f} ms; server p50 "
                    f"{figure['server']['p50'] / 1000:.2f} ms, p99 "
                    f"{figure['server']['p99'] / 1000:.2f} ms; errors {figure['errors']}, "
                    f"non-2xx {figure['non2xx']}; placements filled by an experience "
                    f"{figure['experience']}, by the default {figure['default']}, empty "
                    f"{figure['empty']}; CPU per decision: workers {figure['workers_ms']:.2f} "
                    f"ms, postgres {figure['postgres_ms']:.2f} ms"
                )
                print(lines[-1], flush=True)
            p99 = [f["client"]["p99"] / 1000 for f in figures]
            lines.append(f"median client p99: {statistics.median(p99):.2f} ms")
        except Exception:
            if server is not None:
                print(server.log()[-4000:], file=sys.stderr)
            raise
        finally:
            if server is not None:
                server.stop()
            services.close()
            drop_schema(settings)
    print("\n".join(lines))
    if args.record:
        record(f"Decisions under load, {args.backend}", " ".join(["python", *sys.argv]), lines)


if __name__ == "__main__":
    main()
