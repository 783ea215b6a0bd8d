"""Shared pieces of the benchmarks: a real server on a fresh database, synthetic traffic, and
the machine description written beside every figure."""

from __future__ import annotations

import datetime as dt
import os
import platform
import random
import sys
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from relevo.settings import Settings
from tests.databases import PG_URL, drop_schema, engine_for, wait_for_profiles
from tests.real_server import RealServer, create_workspace

RESULTS = Path(__file__).with_name("RESULTS.md")
UAS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Mobile Safari/537.36",
]
SOURCES = [
    "https://shop.example/?utm_source=google&utm_medium=cpc&utm_campaign=winter",
    "https://shop.example/?utm_source=newsletter&utm_medium=email",
    "https://shop.example/",
]


def fresh_settings(backend: str, tmp: Path) -> Settings:
    if backend == "sqlite":
        return Settings(database_url=f"sqlite:///{tmp}/bench.db")
    return Settings(database_url=PG_URL, database_schema=f"relevo_bench_{uuid.uuid4().hex[:8]}")


def message(rng: random.Random, number: int, visitors: int) -> dict[str, Any]:
    """A realistic mix: pages, product views, cart adds, identifies and orders of ~visitors."""
    visitor = rng.randrange(visitors)
    base: dict[str, Any] = {
        "anonymousId": f"anon-{visitor}",
        "messageId": f"bench-{number}",
        "context": {
            "userAgent": UAS[visitor % len(UAS)],
            "page": {"url": SOURCES[visitor % len(SOURCES)], "referrer": "https://www.google.com/"},
        },
    }
    product = {
        "product_id": str(rng.randrange(5000)),
        "category": f"category-{rng.randrange(30)}",
        "brand": f"brand-{rng.randrange(50)}",
        "price": 12.5,
    }
    roll = rng.random()
    if roll < 0.30:
        return {**base, "type": "page", "name": "Product"}
    if roll < 0.80:
        return {**base, "type": "track", "event": "Product Viewed", "properties": product}
    if roll < 0.93:
        return {**base, "type": "track", "event": "Product Added", "properties": product}
    if roll < 0.97:
        return {
            **base,
            "type": "identify",
            "userId": f"user-{visitor}",
            "traits": {"email": f"user{visitor}@example.com"},
        }
    return {
        **base,
        "type": "track",
        "event": "Order Completed",
        "properties": {"order_id": f"o-{number}", "revenue": 25.0, "products": [product]},
    }


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    python = f"{platform.python_implementation()} {platform.python_version()}"
    return f"{os.cpu_count()} cores ({cpu}), {memory:.0f} GiB RAM, {python}"


def record(title: str, command: str, lines: list[str]) -> None:
    """Append one run to bench/RESULTS.md."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    block = [
        f"### {title}",
        "",
        f"- date: {stamp}",
        f"- machine: {machine()}",
        f"- command: `{command}`",
        *[f"- {line}" for line in lines],
        "",
    ]
    with RESULTS.open("a") as handle:
        handle.write("\n".join(block) + "\n")


__all__ = [
    "RealServer",
    "create_workspace",
    "drop_schema",
    "engine_for",
    "fresh_settings",
    "message",
    "record",
    "wait_for_profiles",
]
