"""Products met in tracked events (Product Viewed, Product Added, Order Completed ...): the
catalog learns them even before (or without) a feed, flagged as seen in events."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from relevo.catalog.price import PriceError
from relevo.catalog.product import Product

PRODUCT_EVENTS = {
    "Product Viewed", "Product Clicked", "Product Added", "Product Removed",
    "Product Added to Wishlist", "Order Completed", "Checkout Started", "Cart Viewed",
}  # fmt: skip
_FIELDS = {
    "name": "title",
    "brand": "brand",
    "category": "category",
    "price": "price",
    "currency": "currency",
    "url": "url",
    "image_url": "image_url",
    "sku": "sku",
    "variant": None,
}


def _product(raw: dict[str, Any], currency: Any) -> Product | None:
    product_id = raw.get("product_id", raw.get("sku"))
    if product_id is None or isinstance(product_id, bool | dict | list):
        return None
    fields: dict[str, Any] = {"product_id": str(product_id)}
    for source, target in _FIELDS.items():
        value = raw.get(source)
        if target is not None and isinstance(value, str | int | float) and value != "":
            fields[target] = str(value) if target in ("title", "sku", "brand", "url") else value
    if "currency" not in fields and isinstance(currency, str):
        fields["currency"] = currency
    try:
        return Product.model_validate(fields)
    except (ValidationError, PriceError):
        try:  # the id alone is still worth knowing
            return Product(product_id=str(product_id))
        except ValidationError:
            return None


def products_in_event(
    event: str | None, properties: Any, wanted: Callable[[str], bool] | None = None
) -> list[Product]:
    """The products an event describes; with `wanted`, only those whose id it accepts (the
    check comes before validation, which is most of the cost)."""
    if event not in PRODUCT_EVENTS or not isinstance(properties, dict):
        return []
    listed = properties.get("products")
    raws = [p for p in listed if isinstance(p, dict)] if isinstance(listed, list) else [properties]
    if wanted is not None:
        raws = [raw for raw in raws if wanted(str(raw.get("product_id", raw.get("sku"))))]
    found = (_product(raw, properties.get("currency")) for raw in raws)
    return [p for p in found if p is not None]
