"""Prices as feeds write them: "15.00 USD", "15,00 EUR", "USD 15", "1.234,56 EUR", "12"."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

_PRICE = re.compile(
    r"^\s*(?:(?P<pre>[A-Za-z]{3})\s*)?(?P<amount>[0-9][0-9.,\s]*)\s*(?P<post>[A-Za-z]{3})?\s*$"
)


class PriceError(ValueError):
    pass


def _amount(text: str) -> Decimal:
    digits = text.replace(" ", "")
    if "," in digits and "." in digits:
        # The later separator is the decimal one: 1.234,56 or 1,234.56
        if digits.rfind(",") > digits.rfind("."):
            digits = digits.replace(".", "").replace(",", ".")
        else:
            digits = digits.replace(",", "")
    elif "," in digits:
        head, _, tail = digits.rpartition(",")
        # "15,00" is a decimal comma; "1,234" (three digits after) a thousands separator.
        digits = f"{head.replace(',', '')}.{tail}" if len(tail) != 3 else head + tail
    try:
        return Decimal(digits)
    except InvalidOperation:
        raise PriceError(f"{text!r} is not an amount") from None


def parse_price(text: str) -> tuple[Decimal, str | None]:
    """(amount, ISO currency or None); raises PriceError with a readable message."""
    match = _PRICE.match(text)
    if match is None:
        raise PriceError(f"{text!r} is not a price like '15.00 USD'")
    if match["pre"] and match["post"]:
        raise PriceError(f"{text!r} names two currencies")
    currency = (match["pre"] or match["post"] or "").upper() or None
    return _amount(match["amount"]), currency
