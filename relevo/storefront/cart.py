"""The demo's cart: kept in the browser, in a cookie the page's script writes and the server
reads to render the cart and checkout pages (``{"85123A": 2, ...}`` as JSON)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import unquote

from relevo.storefront.visitor import Priced

COOKIE = "rlv_demo_cart"
MAX_LINES = 50
MAX_QUANTITY = 99


@dataclass(frozen=True)
class CartLine:
    item: Priced
    quantity: int

    @property
    def total(self) -> Decimal:
        return self.item.price * self.quantity


def read_cart(cookie: str | None) -> dict[str, int]:
    """Product id -> quantity; whatever is malformed is left out."""
    if not cookie:
        return {}
    try:
        raw = json.loads(unquote(cookie))
    except ValueError:
        return {}
    if not isinstance(raw, dict):
        return {}
    cart: dict[str, int] = {}
    for key, value in list(raw.items())[:MAX_LINES]:
        if isinstance(key, str) and 0 < len(key) <= 255 and isinstance(value, int) and value > 0:
            cart[key] = min(value, MAX_QUANTITY)
    return cart


def cart_total(lines: list[CartLine]) -> Decimal:
    return sum((line.total for line in lines), Decimal("0"))
