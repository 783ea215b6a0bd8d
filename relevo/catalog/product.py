"""A product as Relevo knows it. Validation errors name the field and what is wrong."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from relevo.catalog.price import parse_price
from relevo.storable import replace_unstorable


class Availability(StrEnum):
    IN_STOCK = "in_stock"
    OUT_OF_STOCK = "out_of_stock"
    PREORDER = "preorder"
    BACKORDER = "backorder"


class Source(StrEnum):
    CATALOG = "catalog"  # sent by the shop (API, feed, file)
    EVENTS = "events"  # only ever seen in tracked events (Product Viewed ...)


_AVAILABILITY_ALIASES = {
    "in stock": Availability.IN_STOCK,
    "instock": Availability.IN_STOCK,
    "available": Availability.IN_STOCK,
    "out of stock": Availability.OUT_OF_STOCK,
    "outofstock": Availability.OUT_OF_STOCK,
    "sold out": Availability.OUT_OF_STOCK,
    "pre-order": Availability.PREORDER,
    "pre order": Availability.PREORDER,
    "back order": Availability.BACKORDER,
    "backorder": Availability.BACKORDER,
}
CATEGORY_SEPARATOR = " > "


class Product(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    product_id: str = Field(min_length=1, max_length=255)
    sku: str | None = Field(None, max_length=255)
    title: str = Field("", max_length=1000)
    description: str = Field("", max_length=20_000)
    brand: str | None = Field(None, max_length=255)
    category: list[str] = Field(default_factory=list, max_length=20)
    price: Decimal | None = Field(None, ge=0)
    sale_price: Decimal | None = Field(None, ge=0)
    currency: str | None = Field(None, min_length=3, max_length=3)
    availability: Availability = Availability.IN_STOCK
    stock_quantity: int | None = Field(None, ge=0)
    image_url: str | None = Field(None, max_length=2000)
    url: str | None = Field(None, max_length=2000)
    item_group_id: str | None = Field(None, max_length=255)
    attributes: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _currency_from_price(cls, data: Any) -> Any:
        """A price like "15.00 USD" also says the currency; text neither database can store
        (NUL, lone surrogates) is replaced, as in tracked messages."""
        data = replace_unstorable(data)
        if isinstance(data, dict) and not data.get("currency"):
            for key in ("price", "sale_price"):
                if isinstance(data.get(key), str):
                    _, currency = parse_price(data[key])
                    if currency:
                        return {**data, "currency": currency}
        return data

    @field_validator("category", mode="before")
    @classmethod
    def _category_path(cls, value: Any) -> Any:
        """ "Home > Kitchen > Mugs" or ["Home", "Kitchen", "Mugs"]."""
        if value is None:
            return []
        if isinstance(value, str):
            return [part.strip() for part in value.split(">") if part.strip()]
        return value

    @field_validator("price", "sale_price", mode="before")
    @classmethod
    def _price(cls, value: Any) -> Any:
        if isinstance(value, str):
            amount, _ = parse_price(value)
            return amount
        return value

    @field_validator("availability", mode="before")
    @classmethod
    def _availability(cls, value: Any) -> Any:
        if isinstance(value, str):
            key = value.strip().lower().replace("_", " ")
            return _AVAILABILITY_ALIASES.get(key, value.strip().lower())
        return value

    @field_validator("currency", mode="before")
    @classmethod
    def _currency(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    @property
    def category_path(self) -> str:
        return CATEGORY_SEPARATOR.join(self.category)

    @property
    def sellable(self) -> bool:
        """What "in stock only" means: not out of stock, and not at zero stock."""
        if self.availability is Availability.OUT_OF_STOCK:
            return False
        return self.stock_quantity is None or self.stock_quantity > 0

    @property
    def effective_price(self) -> Decimal | None:
        return self.sale_price if self.sale_price is not None else self.price
