"""What every feed reader yields, and turning one row of fields into a Product."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from relevo.catalog.price import PriceError
from relevo.catalog.product import Product


@dataclass(frozen=True)
class Rejected:
    line: int
    reason: str
    product_id: str | None = None


Row = Product | Rejected


def describe(error: ValidationError) -> str:
    problems = []
    for e in error.errors()[:3]:
        field = ".".join(str(p) for p in e["loc"]) or "row"
        problems.append(f"{field}: {e['msg']}")
    return "; ".join(problems)


def to_row(line: int, fields: dict[str, Any]) -> Row:
    product_id = fields.get("product_id")
    try:
        return Product.model_validate(fields)
    except ValidationError as error:
        return Rejected(line, describe(error), str(product_id) if product_id else None)
    except PriceError as error:
        return Rejected(line, f"price: {error}", str(product_id) if product_id else None)
