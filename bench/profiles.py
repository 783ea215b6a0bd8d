"""Profile freshness and profile reads under load.

Freshness: with background ingest running, a probe event is sent and the profile polled (every
5 ms) until it counts the event: delay from the HTTP 200 to the updated profile. Reads: p50/p99
of GET /v1/profiles/user_id/{id} with concurrent readers while ingest continues. Usage:

    .venv/bin/python bench/profiles.py --backend sqlite --probes 200 [--record]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import random
import sys
import tempfile
import time
from pathlib import Path

import httpx
import orjson
from common import RealServer, create_workspace, drop_schema, fresh_settings, message, record


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000


async def run(
    url: str, keys: dict[str, str], probes: int, background_rate: float, readers: int
) -> list[str]:
    write = {
        "Authorization": "Basic " + base64.b64encode(f"{keys['write_key']}:".encode()).decode()
    }
    read = {"Authorization": f"Bearer {keys['secret_key']}"}
    rng = random.Random(11)
    stop = asyncio.Event()
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        # Known customers to read back later.
        for start in range(0, 2000, 100):
            batch = [
                {
                    "type": "identify",
                    "userId": f"reader-{i}",
                    "anonymousId": f"r-{i}",
                    "traits": {"email": f"r{i}@example.com"},
                }
                for i in range(start, start + 100)
            ]
            (await http.post("/v1/batch", json={"batch": batch}, headers=write)).raise_for_status()

        async def background() -> None:
            number = 0
            while not stop.is_set():
                body = orjson.dumps(
                    {"batch": [message(rng, number + i, 20_000) for i in range(100)]}
                )
                number += 100
                sent = time.perf_counter()
                await http.post(
                    "/v1/batch", content=body, headers={**write, "Content-Type": "application/json"}
                )
                await asyncio.sleep(max(0.0, 100 / background_rate - (time.perf_counter() - sent)))

        loader = asyncio.create_task(background())
        delays = []
        for n in range(probes):
            probe = f"probe-{n}"
            response = await http.post(
                "/v1/track", json={"event": "Probe", "anonymousId": probe}, headers=write
            )
            acked = time.perf_counter()
            response.raise_for_status()
            while True:
                got = await http.get(f"/v1/profiles/anonymous_id/{probe}", headers=read)
                if got.status_code == 200 and got.json()["computed"]["events"] == 1:
                    delays.append(time.perf_counter() - acked)
                    break
                await asyncio.sleep(0.005)

        latencies: list[float] = []
        deadline = time.perf_counter() + 10

        async def reader() -> None:
            while time.perf_counter() < deadline:
                sent = time.perf_counter()
                got = await http.get(
                    f"/v1/profiles/user_id/reader-{rng.randrange(2000)}", headers=read
                )
                got.raise_for_status()
                latencies.append(time.perf_counter() - sent)

        await asyncio.gather(*(reader() for _ in range(readers)))
        stop.set()
        await loader
    return [
        f"freshness (HTTP 200 to updated profile, {probes} probes, background ingest "
        f"~{background_rate:,.0f} messages/s): p50 **{percentile(delays, 0.5):.0f} ms**, "
        f"p99 **{percentile(delays, 0.99):.0f} ms**",
        f"profile read by user id, {readers} concurrent readers during ingest: "
        f"{len(latencies) / 10:,.0f} reads/s, p50 **{percentile(latencies, 0.5):.1f} ms**, "
        f"p99 **{percentile(latencies, 0.99):.1f} ms** (client-side, same 2 cores)",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--probes", type=int, default=200)
    parser.add_argument("--background-rate", type=float, default=3000.0, help="messages/s")
    parser.add_argument("--readers", type=int, default=8)
    parser.add_argument("--record", action="store_true", help="append the figures to RESULTS.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = fresh_settings(args.backend, Path(tmp))
        keys = create_workspace(settings, "bench")
        server = RealServer(settings, workers=2)
        try:
            lines = asyncio.run(
                run(server.url, keys, args.probes, args.background_rate, args.readers)
            )
        finally:
            server.stop()
            drop_schema(settings)
    print("\n".join(lines))
    if args.record:
        record(f"Profiles, {args.backend}", " ".join(["python", *sys.argv]), lines)


if __name__ == "__main__":
    main()
