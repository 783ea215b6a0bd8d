"""The request context a condition sees (``context.*``), from what a caller sends: Segment's
context shape plus the product in view and the cart.

    {"page": {"url": "https://shop/p/1?utm_source=news", "referrer": "..."},
     "campaign": {"source": "news", "medium": "email"}, "userAgent": "...",
     "country": "DE", "timezone": "Europe/Berlin",
     "product": {"product_id": "p1", "category": "Shoes", "price": 80},
     "cart": {"products": [{"product_id": "p2", "price": 20, "quantity": 2}]}}

becomes ``{"page": {"url", "path", "referrer"}, "utm": {...}, "device": {...}, "country",
"product", "cart": {"items", "value", "count"}, "local": {"hour", "weekday"}}``. Anything
malformed is left out (a condition on it then sees null), never an error.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from relevo.profiles.device import device_from_context
from relevo.profiles.state import order_revenue

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_UTM = ("source", "medium", "campaign", "term", "content")


def _text(value: Any, limit: int = 2000) -> str | None:
    return value[:limit] if isinstance(value, str) and value else None


def _utm(url: str | None, campaign: Any) -> dict[str, str]:
    found: dict[str, str] = {}
    if isinstance(campaign, dict):
        for key in _UTM:
            value = campaign.get("name" if key == "campaign" else key)
            if isinstance(value, str) and value:
                found[key] = value
    if url:
        try:
            query = parse_qs(urlsplit(url).query)
        except ValueError:
            query = {}
        for key in _UTM:
            values = query.get(f"utm_{key}")
            if values and key not in found:
                found[key] = values[0]
    return found


def _local(now_ms: int, timezone: Any) -> dict[str, Any]:
    zone: Any = UTC
    if isinstance(timezone, str) and 0 < len(timezone) <= 64:
        try:
            zone = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            zone = UTC  # unknown, malformed, or a path that is no zone file
    moment = datetime.fromtimestamp(now_ms / 1000, zone)
    return {"hour": moment.hour, "weekday": WEEKDAYS[moment.weekday()]}


def request_context(raw: dict[str, Any], now_ms: int) -> dict[str, Any]:
    page = raw.get("page") if isinstance(raw.get("page"), dict) else {}
    url = _text((page or {}).get("url"))
    path = None
    if url:
        try:
            path = urlsplit(url).path or "/"
        except ValueError:
            path = None
    context: dict[str, Any] = {
        "page": {
            "url": url,
            "path": _text((page or {}).get("path")) or path,
            "referrer": _text((page or {}).get("referrer")),
        },
        "utm": _utm(url, raw.get("campaign")),
        "device": device_from_context(raw),
        "country": _text(raw.get("country"), 8)
        or _text(
            (raw.get("location") or {}).get("country")
            if isinstance(raw.get("location"), dict)
            else None,
            8,
        ),
        "product": raw.get("product") if isinstance(raw.get("product"), dict) else None,
        "local": _local(now_ms, raw.get("timezone")),
    }
    cart = raw.get("cart")
    if isinstance(cart, dict):
        products = cart.get("products")
        items = [p for p in products if isinstance(p, dict)] if isinstance(products, list) else []
        value = cart.get("value")
        context["cart"] = {
            "items": items,
            "count": len(items),
            "value": value
            if isinstance(value, int | float) and not isinstance(value, bool)
            else order_revenue({"products": items}),
        }
    else:
        context["cart"] = None
    return context
