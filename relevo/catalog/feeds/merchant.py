"""Google Merchant Center field names -> Product fields (shared by the TSV and XML readers).

Standard fields map onto the product; every other field (gtin, mpn, condition, color, size,
custom_label_0..4, ...) is kept in `attributes` under its Merchant name.
"""

from __future__ import annotations

from typing import Any

DIRECT = {
    "id": "product_id",
    "title": "title",
    "description": "description",
    "link": "url",
    "image_link": "image_url",
    "availability": "availability",
    "price": "price",
    "sale_price": "sale_price",
    "brand": "brand",
    "item_group_id": "item_group_id",
    "currency": "currency",
    "sku": "sku",
}
QUANTITY_FIELDS = ("quantity", "sell_on_google_quantity")


def merchant_fields(raw: dict[str, str]) -> dict[str, Any]:
    """Fields of one feed item (names without the g: prefix) as Product input."""
    fields: dict[str, Any] = {}
    attributes: dict[str, Any] = {}
    for name, value in raw.items():
        value = value.strip()
        if not value:
            continue
        if name in DIRECT:
            fields[DIRECT[name]] = value
        elif name in QUANTITY_FIELDS:
            fields["stock_quantity"] = value
        elif name not in ("product_type", "google_product_category"):
            attributes[name] = value
    # The shop's own category path first; Google's taxonomy when that is all there is.
    for name in ("product_type", "google_product_category"):
        value = raw.get(name, "").strip()
        if value:
            fields["category"] = value.split(",")[0] if ">" in value else value
            if name == "google_product_category":
                attributes.setdefault("google_product_category", value)
            break
    if "mpn" in attributes and "sku" not in fields:
        fields["sku"] = attributes["mpn"]
    if attributes:
        fields["attributes"] = attributes
    return fields
