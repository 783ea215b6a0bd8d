"""Which Segment e-commerce events are signals for recommenders, and what they say.

Pure functions over message properties, used both when training (all stored events) and when
serving (the visitor's latest events, including those of the last second).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from relevo.recs.data import Kind

PRODUCT_EVENTS: dict[str, Kind] = {
    "Product Viewed": Kind.VIEW,
    "Product Clicked": Kind.VIEW,
    "Product Added": Kind.CART,
    "Product Added to Wishlist": Kind.CART,
    "Order Completed": Kind.PURCHASE,
}
SIGNAL_EVENTS = tuple(PRODUCT_EVENTS)


@dataclass(frozen=True)
class Signal:
    item_id: str
    kind: Kind
    order_id: str | None
    quantity: float


def _item_id(product: dict[str, Any]) -> str | None:
    value = product.get("product_id", product.get("sku", product.get("id")))
    if value is None or isinstance(value, bool | dict | list):
        return None
    text = str(value).strip()
    return text or None


def _quantity(product: dict[str, Any]) -> float:
    value = product.get("quantity", 1)
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    return 1.0


def signals_of(event: str | None, properties: Any) -> list[Signal]:
    """The product signals of one track event (none for other events or malformed ones)."""
    kind = PRODUCT_EVENTS.get(event or "")
    if kind is None or not isinstance(properties, dict):
        return []
    if kind is Kind.PURCHASE:
        order = properties.get("order_id", properties.get("checkout_id"))
        order_id = None if order is None else str(order)
        products = properties.get("products")
        if not isinstance(products, list):
            return []
        found = []
        for product in products:
            if isinstance(product, dict) and (item := _item_id(product)) is not None:
                found.append(Signal(item, kind, order_id, _quantity(product)))
        return found
    item = _item_id(properties)
    return [] if item is None else [Signal(item, kind, None, _quantity(properties))]
