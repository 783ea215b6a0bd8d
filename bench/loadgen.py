"""A lean open-loop HTTP/1.1 load generator for latency benchmarks.

httpx costs a few milliseconds of client CPU per request; at 500 requests/s on two cores the
client then starves the server it measures. Here requests are serialised before the clock
starts, sent on keep-alive connections from a pool with plain asyncio streams, and the
response is parsed only as far as the status, the `Server-Timing` header and the body length.
Open loop: request i leaves at start + i / rate whether or not earlier ones have returned
(a new connection is opened when every pooled one is busy), so a slow server shows up as
latency instead of silently lowering the offered rate.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import orjson


@dataclass(frozen=True)
class Sample:
    status: int
    client_ms: float
    server_ms: float | None


def post_request(host: str, path: str, body: object, headers: dict[str, str]) -> bytes:
    payload = orjson.dumps(body)
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: {host}",
        "Content-Type: application/json",
        f"Content-Length: {len(payload)}",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> tuple[int, float | None]:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length, server_ms = 0, None
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "server-timing" and "dur=" in value:
            server_ms = float(value.split("dur=", 1)[1].split(";")[0].split(",")[0])
    await reader.readexactly(length)
    return status, server_ms


async def open_loop(url: str, requests: list[bytes], rate: float) -> tuple[list[Sample], float]:
    """Send `requests` at `rate` per second; the samples and the achieved rate."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    samples: list[Sample] = []

    async def one(request: bytes) -> None:
        sent = time.perf_counter()  # connecting, when no pooled connection is free, counts
        connection = idle.pop() if idle else None
        try:
            if connection is None:
                raise ConnectionResetError
            status, server_ms = await _exchange(*connection, request)
        except (ConnectionResetError, asyncio.IncompleteReadError):
            # None pooled, or the server closed an idle one (keep-alive timeout): as HTTP
            # clients do, send again on a new connection.
            if connection is not None:
                connection[1].close()
            connection = await asyncio.open_connection(host, port)
            status, server_ms = await _exchange(*connection, request)
        samples.append(Sample(status, (time.perf_counter() - sent) * 1000, server_ms))
        idle.append(connection)

    tasks = []
    start = time.perf_counter()
    for i, request in enumerate(requests):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(request)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
    for _, writer in idle:
        writer.close()
    return samples, len(requests) / elapsed
