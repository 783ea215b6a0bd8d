"""What the demo shop needs beyond the UCI orders: categories, the storefront's product URLs and
tiles, the demo customers its persona switch offers, a B2B trade account with a price list, and
the seeded placements and experiences (``experiences.json``).

Seeded messages have fixed message ids, so loading the demo again stores nothing twice.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from relevo.catalog.product import Product
from relevo.demo.categories import category_of, with_category
from relevo.demo.uci_retail import demo_messages, demo_products
from relevo.services import Services

EXPERIENCES_PATH = Path(__file__).with_name("experiences.json")
EXPERIMENTS_PATH = Path(__file__).with_name("experiments.json")
TRADE_ACCOUNT = "harbour-trade"
TRADE_ACCOUNT_NAME = "Harbour Interiors (trade)"
TRADE_DISCOUNT = Decimal("0.80")  # the trade price list: 20% under the list price


@dataclass(frozen=True)
class DemoCustomer:
    user_id: str
    label: str


# The persona switch's returning customers (each with several orders in the data set) and the
# trade customer, a wholesale buyer who is made a member of the trade account.
RETURNING_CUSTOMERS = (
    DemoCustomer("12347", "Customer 12347, Iceland: 7 orders"),
    DemoCustomer("13047", "Customer 13047, United Kingdom: 10 orders"),
    DemoCustomer("12583", "Customer 12583, France: 15 orders"),
)
TRADE_CUSTOMER = DemoCustomer("14646", "Customer 14646, Netherlands: trade account")
DEMO_CUSTOMER_IDS = (*(c.user_id for c in RETURNING_CUSTOMERS), TRADE_CUSTOMER.user_id)


def product_url(product_id: str) -> str:
    return f"/demo/product/{product_id}"


def tile_url(product_id: str) -> str:
    return f"/demo/tile/{product_id}.svg"


def demo_catalog() -> list[dict[str, Any]]:
    """The UCI catalog with a category, the storefront's page and a drawn tile per product."""
    return [
        {
            **with_category(p),
            "url": product_url(p["product_id"]),
            "image_url": tile_url(p["product_id"]),
        }
        for p in demo_products()
    ]


def _order_lines_with_categories(message: dict[str, Any]) -> dict[str, Any]:
    properties = message.get("properties")
    if not isinstance(properties, dict) or "products" not in properties:
        return message
    products = [with_category(p) for p in properties["products"]]
    return {**message, "properties": {**properties, "products": products}}


def _kept_customers(messages: list[dict[str, Any]], customers: int | None) -> set[str] | None:
    """The first ``customers`` customers of the data set, and always the demo's own."""
    if customers is None:
        return None
    first = [m["userId"] for m in messages if m["type"] == "identify"][:customers]
    return {*first, *DEMO_CUSTOMER_IDS}


def demo_shop_messages(customers: int | None = None) -> list[dict[str, Any]]:
    """The UCI customers and orders (order lines with their category), the trade account's
    group call and a few recent product views of each demo customer; ``customers`` keeps only
    that many customers (and the demo's own): a small demo for tests."""
    messages = demo_messages()
    kept = _kept_customers(messages, customers)
    if kept is not None:
        messages = [m for m in messages if m["userId"] in kept]
    return [
        *(_order_lines_with_categories(m) for m in messages),
        *seeded_messages(messages, int(time.time() * 1000)),
    ]


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


def seeded_messages(messages: list[dict[str, Any]], now_ms: int) -> list[dict[str, Any]]:
    """The trade account (a trusted group call) and, for each demo customer, views of the
    products of their two favourite categories in the last days, so that the storefront knows
    their interests today (the data set's orders are from 2010 and 2011: long forgotten)."""
    seeded: list[dict[str, Any]] = [
        {
            "type": "group",
            "userId": TRADE_CUSTOMER.user_id,
            "groupId": TRADE_ACCOUNT,
            "messageId": f"demo-seed-group-{TRADE_ACCOUNT}",
            "timestamp": "2011-12-10T12:00:00Z",
            "traits": {"name": TRADE_ACCOUNT_NAME, "plan": "trade", "industry": "Interiors"},
        }
    ]
    bought: dict[str, Counter[str]] = {user: Counter() for user in DEMO_CUSTOMER_IDS}
    titles: dict[str, dict[str, str]] = {user: {} for user in DEMO_CUSTOMER_IDS}
    for message in messages:
        user = message.get("userId")
        if message.get("event") != "Order Completed" or user not in bought:
            continue
        for line in message["properties"]["products"]:
            bought[user][line["product_id"]] += int(line["quantity"])
            titles[user][line["product_id"]] = line["name"]
    for user, counts in bought.items():
        by_category: Counter[str] = Counter()
        for product_id, quantity in counts.items():
            by_category[category_of(titles[user][product_id])] += quantity
        favourites = [c for c, _ in by_category.most_common(2)]
        viewed = [p for p, _ in counts.most_common() if category_of(titles[user][p]) in favourites]
        for index, product_id in enumerate(viewed[:6]):
            at = now_ms - (3 - index % 3) * 86_400_000 - index * 60_000
            seeded.append(
                {
                    "type": "track",
                    "event": "Product Viewed",
                    "userId": user,
                    "messageId": f"demo-seed-view-{user}-{index}",
                    "timestamp": _iso(at),
                    "properties": {
                        "product_id": product_id,
                        "name": titles[user][product_id],
                        "category": category_of(titles[user][product_id]),
                    },
                }
            )
    return seeded


def seeded_experiences(path: Path = EXPERIENCES_PATH) -> dict[str, list[dict[str, Any]]]:
    """``{"placements": [...], "experiences": [...]}`` in the API's shapes."""
    loaded: dict[str, list[dict[str, Any]]] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


def trade_prices(catalog: Sequence[Product]) -> list[tuple[str, str, str | None]]:
    cent = Decimal("0.01")
    return [
        (
            p.product_id,
            str((p.price * TRADE_DISCOUNT).quantize(cent, rounding=ROUND_HALF_UP)),
            p.currency,
        )
        for p in catalog
        if p.price
    ]


@dataclass
class Seeded:
    trade_prices: int = 0
    placements: int = 0
    experiences: int = 0
    experiments: int = 0


def seed_demo(services: Services, workspace_id: int, catalog: Sequence[Product]) -> Seeded:
    """The trade account's price list and the seeded placements and experiences (saved again
    as shipped on every load: a demo that was played with starts over)."""
    seeded = Seeded()
    now_ms = int(time.time() * 1000)
    prices = trade_prices(catalog)
    seeded.trade_prices = services.account_terms.set_prices(
        workspace_id, TRADE_ACCOUNT, prices, replace=True, now_ms=now_ms
    )
    shipped = seeded_experiences()
    for placement in shipped["placements"]:
        services.experiences.upsert_placement(workspace_id, placement)
        seeded.placements += 1
    for experience in shipped["experiences"]:
        services.experiences.upsert_experience(workspace_id, experience)
        seeded.experiences += 1
    # Experiments ship as drafts, each with its hypothesis (what, for whom, why): a person
    # starts one to see it split the visitors. One that was started keeps its state.
    for experiment in json.loads(EXPERIMENTS_PATH.read_text(encoding="utf-8"))["experiments"]:
        found = services.experiments.find(workspace_id, experiment["id"])
        if found is None or found.status == "draft":
            services.experiments.upsert(workspace_id, experiment)
            seeded.experiments += 1
    return seeded
