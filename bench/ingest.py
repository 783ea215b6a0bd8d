"""Ingest throughput through /v1/batch with the profile computation included.

Starts `relevo serve --workers 2` on a fresh database, sends 100-message batches from several
concurrent clients (as fast as the server answers, or paced to `--rate` messages/s), then
verifies by counting what was stored (no loss, no duplicates) and waits for the profile
materializer to fold every event. During the run it samples the profile lag four times a second:
how long the oldest acknowledged event not yet folded into its profile has been waiting. Usage:

    .venv/bin/python bench/ingest.py --backend sqlite --seconds 20 --clients 16 [--rate N]
        [--record]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import random
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import orjson
from common import (
    RealServer,
    create_workspace,
    drop_schema,
    engine_for,
    fresh_settings,
    message,
    record,
    wait_for_profiles,
)
from sqlalchemy import Engine, func, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from relevo.storage import schema as t


class LagSampler:
    """Polls the materializer's checkpoint: the age of the oldest event it has not folded yet."""

    def __init__(self, engine: Engine, every: float = 0.25) -> None:
        self.engine, self.every = engine, every
        self.lags_ms: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> LagSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        checkpoint = select(t.checkpoints.c.position).where(t.checkpoints.c.name == "profiles")
        while not self._stop.wait(self.every):
            with self.engine.connect() as conn:
                done = conn.execute(checkpoint).scalar() or 0
                oldest = conn.execute(
                    select(t.events.c.received_at)
                    .where(t.events.c.seq > done)
                    .order_by(t.events.c.seq)
                    .limit(1)
                ).scalar()
            self.lags_ms.append(0 if oldest is None else max(0, int(time.time() * 1000) - oldest))


async def drive(
    url: str, write_key: str, bodies: list[bytes], seconds: float, clients: int, rate: float
) -> tuple[set[int], list[float], float]:
    auth = {
        "Authorization": "Basic " + base64.b64encode(f"{write_key}:".encode()).decode(),
        "Content-Type": "application/json",
    }
    acknowledged: set[int] = set()
    latencies: list[float] = []
    queue = iter(range(len(bodies)))
    start = time.perf_counter()
    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as http:

        async def client() -> None:
            while time.perf_counter() - start < seconds:
                index = next(queue, None)
                if index is None:
                    return
                if rate:  # open loop: batch k is due k * 100 / rate seconds after the start
                    await asyncio.sleep(max(0.0, start + index * 100 / rate - time.perf_counter()))
                sent = time.perf_counter()
                response = await http.post("/v1/batch", content=bodies[index], headers=auth)
                latencies.append(time.perf_counter() - sent)
                if response.status_code == 200:
                    acknowledged.add(index)
                else:
                    print("rejected:", response.status_code, response.text[:200], file=sys.stderr)

        await asyncio.gather(*(client() for _ in range(clients)))
    return acknowledged, latencies, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--visitors", type=int, default=20_000)
    parser.add_argument(
        "--rate", type=float, default=0, help="messages/s to send (default: as fast as answered)"
    )
    parser.add_argument("--record", action="store_true", help="append the figures to RESULTS.md")
    args = parser.parse_args()

    rng = random.Random(7)
    batches = int(args.seconds * 400)  # more than any run can send
    bodies = [
        orjson.dumps({"batch": [message(rng, b * 100 + i, args.visitors) for i in range(100)]})
        for b in range(batches)
    ]

    with tempfile.TemporaryDirectory() as tmp:
        settings = fresh_settings(args.backend, Path(tmp))
        keys = create_workspace(settings, "bench")
        server = RealServer(settings, workers=args.workers)
        engine = engine_for(settings)
        try:
            with LagSampler(engine) as lag:
                acknowledged, latencies, elapsed = asyncio.run(
                    drive(
                        server.url, keys["write_key"], bodies, args.seconds, args.clients, args.rate
                    )
                )
            last_ack = time.perf_counter()
            sent = len(acknowledged) * 100
            wait_for_profiles(engine, timeout=120)
            catch_up = time.perf_counter() - last_ack
            with engine.connect() as conn:
                stored = conn.execute(select(func.count()).select_from(t.events)).scalar()
                distinct = conn.execute(
                    select(func.count(func.distinct(t.events.c.message_id)))
                ).scalar()
        finally:
            server.stop()
            engine.dispose()
            drop_schema(settings)

    latencies.sort()
    p50, p99 = latencies[len(latencies) // 2] * 1000, latencies[int(len(latencies) * 0.99)] * 1000
    lags = sorted(lag.lags_ms) or [0]
    pace = f"paced to {args.rate:,.0f} messages/s" if args.rate else "as fast as answered"
    lines = [
        f"acknowledged {sent} messages in {elapsed:.1f} s: **{sent / elapsed:,.0f} messages/s** "
        f"({args.clients} clients, {pace}, 100 messages per batch, {args.workers} server workers)",
        f"request latency p50 {p50:.0f} ms, p99 {p99:.0f} ms",
        f"stored {stored} events, {distinct} distinct message ids: "
        f"{'no loss, no duplicates' if stored == distinct == sent else 'MISMATCH'}",
        f"profiles caught up {catch_up:.2f} s after the last acknowledgement; throughput with the "
        f"profile computation included: **{sent / (elapsed + catch_up):,.0f} messages/s**",
        f"profile lag during the run (age of the oldest acknowledged event not yet in its "
        f"profile, {len(lags)} samples): p50 {lags[len(lags) // 2]} ms, "
        f"p99 **{lags[int(len(lags) * 0.99)]} ms**, max {lags[-1]} ms",
    ]
    print("\n".join(lines))
    if args.record:
        record(f"Ingest, {args.backend}", " ".join(["python", *sys.argv]), lines)
    if stored != distinct or stored != sent:
        sys.exit(1)


if __name__ == "__main__":
    main()
