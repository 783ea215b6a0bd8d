"""What a variant's template sees (rendered by the experiences' sandbox,
relevo.experiences.templates: autoescaped, bounded output, bounded ``range``). Pure, no I/O.

Only the profile's safe fields are variables (``safe_profile``): never an e-mail, a phone, an
address or a last name.

    template_variables(document, content, cards, context, placement_id) -> dict
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

CARD_FIELDS = (
    "product_id", "title", "url", "image_url", "price", "sale_price", "brand", "category",
)  # fmt: skip


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def safe_profile(document: Mapping[str, Any] | None) -> dict[str, Any]:
    """What a template may show of a person (of the audiences' document, relevo.audiences.
    document): their first name, lifecycle stage, top categories, declared preferences and
    whether they have bought. Nothing that identifies or locates them."""
    if not document:
        return {
            "first_name": None,
            "lifecycle_stage": None,
            "top_categories": [],
            "preferences": {},
            "is_customer": False,
        }
    traits = document.get("traits") or {}
    computed = document.get("computed") or {}
    first = _text(traits.get("first_name")) or _text(traits.get("firstName"))
    if first is None:
        name = _text(traits.get("name"))
        first = name.split()[0] if name and name.split() else None
    preferences = document.get("preferences") or {}
    return {
        "first_name": first[:100] if first else None,
        "lifecycle_stage": computed.get("lifecycle_stage"),
        "top_categories": list(computed.get("top_categories") or [])[:5],
        "preferences": {
            str(k)[:64]: v
            for k, v in list(preferences.items())[:50]
            if isinstance(v, str | int | float | bool)
        },
        "is_customer": bool(computed.get("orders")),
    }


def safe_context(context: Mapping[str, Any] | None) -> dict[str, Any]:
    """The request as a template sees it: the page path, the campaign, device type, country."""
    context = context or {}
    page = context.get("page") or {}
    device = context.get("device") or {}
    return {
        "path": page.get("path"),
        "utm": dict(context.get("utm") or {}),
        "device_type": device.get("type") if isinstance(device, dict) else None,
        "country": context.get("country"),
    }


def card(product: Mapping[str, Any] | None, product_id: str) -> dict[str, Any]:
    product = product or {}
    return {"product_id": product_id, **{k: product.get(k) for k in CARD_FIELDS[1:]}}


def template_variables(
    document: Mapping[str, Any] | None,
    content: Mapping[str, Any],
    cards: Sequence[Mapping[str, Any]],
    context: Mapping[str, Any] | None,
    placement_id: str,
) -> dict[str, Any]:
    return {
        "profile": safe_profile(document),
        "content": dict(content),
        "recommendations": list(cards),
        "context": safe_context(context),
        "placement": placement_id,
    }
