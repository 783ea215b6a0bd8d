"""B2B account terms: what an account (a Segment group) may buy and at what price, applied to
its members' recommendations, re-ranks and product cards. Pure.

    assortment  product ids and category paths ("Office > Paper" covers what is below it); an
                account without one sees the whole catalog
    prices      agreed price per product (and its currency), shown instead of the list price
                and compared by merchandising rules instead of it (AgreedPrices: a buyer's
                view of the catalog, relevo.rules.catalog `priced`)

A person may be a member of several accounts (their profile's computed `groups`, made only by
trusted group calls): the assortment is the union of those that have one (a product any of
them may buy), and a product's price the lowest agreed by any of them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np
import numpy.typing as npt

from relevo.catalog.price import PriceError, parse_price
from relevo.rules.catalog import Bools, CatalogColumns
from relevo.rules.condition import category_path
from relevo.rules.errors import InvalidTerms

MAX_ASSORTMENT = 100_000  # product ids, per account
MAX_CATEGORIES = 1000
MAX_PRICES = 100_000  # in one call


_CURRENCY = re.compile("[A-Za-z]{3}")


def agreed_amount(where: str, value: str | float, currency: str | None) -> tuple[str, str | None]:
    """(decimal text, currency) of a price as given: 12.5, "12.50" or "12.50 EUR"."""
    try:
        amount, named = parse_price(str(value))
    except PriceError as error:
        raise InvalidTerms(f"{where}.price: {error}") from None
    given = currency.upper() if currency else None
    if given is not None and not _CURRENCY.fullmatch(given):
        raise InvalidTerms(f"{where}.currency: {currency!r} is not an ISO code like EUR")
    if named and given and named != given:
        raise InvalidTerms(f"{where}: the price says {named}, currency {given}")
    return str(amount), named or given


def prices_from_csv(rows: Sequence[Mapping[str, str]]) -> list[tuple[str, str, str | None]]:
    """(product_id, price, currency) of a CSV's rows (product_id, price[, currency])."""
    if len(rows) > MAX_PRICES:
        raise InvalidTerms(f"at most {MAX_PRICES} prices in one call")
    prices = []
    for line, row in enumerate(rows, 2):  # line 1 is the header
        product, price = row.get("product_id"), row.get("price")
        if not product or not price:
            raise InvalidTerms(f"CSV line {line}: product_id and price are needed")
        if len(product) > 255:
            raise InvalidTerms(f"CSV line {line}: product_id is over 255 characters")
        prices.append((product, *agreed_amount(f"line {line}", price, row.get("currency") or None)))
    return prices


@dataclass(frozen=True)
class AgreedPrice:
    price: str  # a decimal as text, as the catalog keeps prices
    currency: str | None
    group_id: str


@dataclass(frozen=True)
class AccountTerms:
    group_id: str
    product_ids: frozenset[str] | None = None  # None: no assortment (everything)
    categories: tuple[str, ...] = ()
    prices: Mapping[str, tuple[str, str | None]] = field(default_factory=dict)
    has_prices: bool = False  # a price list, whether or not `prices` holds any of it

    @property
    def has_assortment(self) -> bool:
        return self.product_ids is not None


def assortment_mask(terms: Sequence[AccountTerms], catalog: CatalogColumns) -> Bools | None:
    """The catalog rows the person's accounts may buy; None when none of them restricts."""
    restricting = [t for t in terms if t.has_assortment]
    if not restricting:
        return None
    mask = np.zeros(len(catalog), dtype=bool)
    for account in restricting:
        rows = [catalog.index(p) for p in account.product_ids or ()]
        mask[[r for r in rows if r is not None]] = True
        for path in account.categories:
            mask |= catalog.under(path)[catalog.category]
    return mask


def in_assortment(terms: Sequence[AccountTerms], product_id: str, category: Any) -> bool:
    """One product (its category path as stored, "A > B", or a list) for a product card."""
    restricting = [t for t in terms if t.has_assortment]
    if not restricting:
        return True
    path = category_path(category if isinstance(category, str | list) else "").casefold()
    for account in restricting:
        if product_id in (account.product_ids or ()):
            return True
        for prefix in account.categories:
            wanted = prefix.casefold()
            if path == wanted or path.startswith(wanted + " >"):
                return True
    return False


@dataclass(frozen=True)
class AgreedPrices:
    """A buyer's agreed prices over catalog rows (the lowest of their accounts'), for rules."""

    rows: npt.NDArray[np.int64]
    prices: npt.NDArray[np.float64]


def price_rows(prices: Sequence[tuple[str, str]], catalog: CatalogColumns) -> AgreedPrices:
    """One account's price list, (product_id, price) rows, over the catalog's rows; products
    the catalog lacks have no row to price."""
    rows, amounts = [], []
    for product_id, price in prices:
        row = catalog.index(product_id)
        if row is not None:
            rows.append(row)
            amounts.append(float(price))
    return AgreedPrices(np.asarray(rows, dtype=np.int64), np.asarray(amounts, dtype=np.float64))


def lowest_prices(lists: Sequence[AgreedPrices]) -> AgreedPrices | None:
    """The lowest agreed price of each row over several accounts, as `agreed_price` picks one
    for a product card; None when no list prices anything."""
    lists = [p for p in lists if p.rows.size]
    if not lists:
        return None
    if len(lists) == 1:
        return lists[0]
    rows = np.concatenate([p.rows for p in lists])
    prices = np.concatenate([p.prices for p in lists])
    order = np.lexsort((prices, rows))  # by row, the lowest price first
    rows, prices = rows[order], prices[order]
    first = np.r_[True, rows[1:] != rows[:-1]]
    return AgreedPrices(rows[first], prices[first])


def agreed_price(terms: Sequence[AccountTerms], product_id: str) -> AgreedPrice | None:
    best: AgreedPrice | None = None
    for account in terms:
        found = account.prices.get(product_id)
        if found is not None and (best is None or Decimal(found[0]) < Decimal(best.price)):
            best = AgreedPrice(found[0], found[1], account.group_id)
    return best


def priced_card(card: dict[str, Any], price: AgreedPrice | None) -> dict[str, Any]:
    """A product card with the account's price instead of the list price (kept beside it)."""
    if price is None:
        return card
    return {
        **card,
        "price": price.price,
        "sale_price": None,
        "currency": price.currency or card.get("currency"),
        "list_price": card.get("price"),
        "price_agreement": price.group_id,
    }
