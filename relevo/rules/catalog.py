"""The live catalog as columns, aligned with a bundle's item index space (row i = item i), so a
rule's condition is a few numpy operations over 50,000 items rather than a loop over them.

Built from plain product rows (relevo.storage.catalog_store `product_view` dicts, or any dict
with those keys); `update` applies a few changed rows in place (live price and stock) and
appends products the bundle has never seen (added since the last training) after its items.
Each update bumps `version` and is logged, so compiled rules refresh only the rows that changed.

Text (brand, category path, item group, text attributes) is stored as codes into a
case-insensitive vocabulary; a missing value is code -1, a missing number NaN.
"""

from __future__ import annotations

import copy
import datetime as dt
import math
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import numpy as np
import numpy.typing as npt

from relevo.rules.condition import category_path

MISSING = -1
_LOG_LENGTH = 64  # updates remembered; a compiled rule further behind recomputes in full

Bools = npt.NDArray[np.bool_]
Codes = npt.NDArray[np.int32]
Numbers = npt.NDArray[np.float64]
Rows = slice | npt.NDArray[np.int64]


def _key(text: str) -> str:
    return text.strip().casefold()


class Vocabulary:
    """Codes of text values, compared without case; `values[code]` is the first spelling seen."""

    def __init__(self) -> None:
        self.values: list[str] = []
        self._codes: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self.values)

    def code(self, value: str) -> int:
        return self._codes.get(_key(value), MISSING)

    def add(self, value: Any) -> int:
        if not isinstance(value, str) or not value.strip():
            return MISSING
        key = _key(value)
        code = self._codes.get(key)
        if code is None:
            code = self._codes[key] = len(self.values)
            self.values.append(value.strip())
        return code

    def table(self, codes: Iterable[int]) -> Bools:
        """A lookup table over the codes, one longer: code -1 (missing) reads its last entry,
        always false. `table[column]` is then the membership mask of a whole column."""
        table = np.zeros(len(self.values) + 1, dtype=bool)
        table[[c for c in codes if c >= 0]] = True
        return table


class AttributeColumn:
    """One custom attribute: numbers (numeric text included), texts as codes, booleans."""

    def __init__(self, size: int) -> None:
        self.numbers: Numbers = np.full(size, np.nan)
        self.texts: Codes = np.full(size, MISSING, dtype=np.int32)
        self.flags = np.full(size, MISSING, dtype=np.int8)  # 0 false, 1 true
        self.vocabulary = Vocabulary()

    def grow(self, size: int) -> None:
        extra = size - self.numbers.size
        self.numbers = np.concatenate([self.numbers, np.full(extra, np.nan)])
        self.texts = np.concatenate([self.texts, np.full(extra, MISSING, dtype=np.int32)])
        self.flags = np.concatenate([self.flags, np.full(extra, MISSING, dtype=np.int8)])

    def write(self, index: int, value: Any) -> None:
        self.flags[index] = int(value) if isinstance(value, bool) else MISSING
        self.numbers[index] = _number(value)
        self.texts[index] = self.vocabulary.add(value)

    def known(self, rows: Rows) -> Bools:
        return ~np.isnan(self.numbers[rows]) | (self.texts[rows] >= 0) | (self.flags[rows] >= 0)


def _number(value: Any) -> float:
    if isinstance(value, bool) or value is None:
        return math.nan
    if isinstance(value, int | float | Decimal | str):
        try:
            number = float(value)
        except (ValueError, OverflowError):
            return math.nan
        return number if math.isfinite(number) else math.nan
    return math.nan


def _time_ms(value: Any) -> float:
    if isinstance(value, dt.datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return moment.timestamp() * 1000
    if isinstance(value, str):
        try:
            moment = dt.datetime.fromisoformat(value)
        except ValueError:
            return math.nan
        return _time_ms(moment)
    return _number(value)


def _sellable(row: Mapping[str, Any]) -> bool:
    """What "in stock only" means (relevo.catalog.product `sellable`); a deleted product is
    not sellable, as in the stock changes serving applies."""
    if row.get("deleted"):
        return False
    if "in_stock" in row:
        return bool(row["in_stock"])
    stock = row.get("stock_quantity")
    return str(row.get("availability") or "in_stock") != "out_of_stock" and (
        stock is None or _number(stock) > 0
    )


def _path(value: Any) -> str | None:
    if isinstance(value, str | list):
        path = category_path([str(p) for p in value] if isinstance(value, list) else value)
        return path or None
    return None


class CatalogColumns:
    """Columns of the live catalog. `item_ids[i]` is the product of row i."""

    def __init__(self, item_ids: Sequence[str]) -> None:
        n = len(item_ids)
        self.item_ids: list[str] = list(item_ids)
        self._index = {item: i for i, item in enumerate(self.item_ids)}
        self.price: Numbers = np.full(n, np.nan)
        self.sale_price: Numbers = np.full(n, np.nan)
        self.effective_price: Numbers = np.full(n, np.nan)
        self.on_sale: Bools = np.zeros(n, dtype=bool)
        self.in_stock: Bools = np.zeros(n, dtype=bool)  # a product without a row: not sellable
        self.brand: Codes = np.full(n, MISSING, dtype=np.int32)
        self.category: Codes = np.full(n, MISSING, dtype=np.int32)
        self.item_group: Codes = np.full(n, MISSING, dtype=np.int32)
        self.added_at: Numbers = np.full(n, np.nan)  # epoch ms
        self.attributes: dict[str, AttributeColumn] = {}
        self.brands = Vocabulary()
        self.categories = Vocabulary()
        self.item_groups = Vocabulary()
        self.version = 0
        self._log: list[tuple[int, npt.NDArray[np.int64]]] = []
        self._under: dict[str, tuple[int, Bools]] = {}
        self._levels: dict[int, tuple[int, Codes]] = {}
        self.base: CatalogColumns | None = None  # set on a buyer's view (`priced`)
        self.priced_rows: npt.NDArray[np.int64] = np.empty(0, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.item_ids)

    @classmethod
    def from_rows(
        cls, rows: Iterable[Mapping[str, Any]], item_ids: Sequence[str] | None = None
    ) -> CatalogColumns:
        """Columns of these products. With `item_ids` (a bundle's), row i is item_ids[i]: its
        items without a product row are not sellable and have no attributes, and products not
        among them follow, in the order given."""
        rows = [r for r in rows if isinstance(r.get("product_id"), str)]
        ids = list(item_ids) if item_ids is not None else []
        known = set(ids)
        ids += [pid for pid in dict.fromkeys(r["product_id"] for r in rows) if pid not in known]
        catalog = cls(ids)
        catalog._write(rows)
        catalog._log.clear()
        catalog.version = 0
        return catalog

    def priced(self, rows: npt.NDArray[np.int64], prices: Numbers) -> CatalogColumns:
        """The catalog as one buyer sees it: at `rows` their agreed price instead of the list
        price, and no sale price (an agreed price is the price, as their product card shows
        it), so not on sale. The other columns are this catalog's arrays, shared: a view is
        read, never updated. `base` is this catalog, whose cached masks the view reuses for
        every condition that reads no price (relevo.rules._vectorised `Cached`)."""
        view = copy.copy(self)
        view.base, view.priced_rows = self, rows
        view.price = self.price.copy()
        view.price[rows] = prices
        view.sale_price = self.sale_price.copy()
        view.sale_price[rows] = np.nan
        view.effective_price = self.effective_price.copy()
        view.effective_price[rows] = prices
        view.on_sale = self.on_sale.copy()
        view.on_sale[rows] = False
        return view

    def index(self, product_id: str) -> int | None:
        return self._index.get(product_id)

    def update(self, rows: Iterable[Mapping[str, Any]]) -> npt.NDArray[np.int64]:
        """Apply changed products: only the keys a row has are written (`{"product_id": "A",
        "in_stock": false}` changes the stock alone; `attributes` replaces them all). Unknown
        products are appended. Returns the rows written."""
        return self._write([r for r in rows if isinstance(r.get("product_id"), str)])

    def changes_since(self, version: int) -> npt.NDArray[np.int64] | None:
        """The rows written after `version`, or None when that is older than the log."""
        if version == self.version:
            return np.empty(0, dtype=np.int64)
        if version > self.version or not self._log or self._log[0][0] > version + 1:
            return None
        changed = [rows for v, rows in self._log if v > version]
        return np.unique(np.concatenate(changed))

    def under(self, prefix: str) -> Bools:
        """Lookup table over category codes: the path `prefix` or below it ("Home" covers
        "Home > Mugs"), as relevo.recs.bundle `in_category` reads it."""
        wanted = _key(prefix)
        cached = self._under.get(wanted)
        if cached is not None and cached[0] == len(self.categories):
            return cached[1]
        table = np.zeros(len(self.categories) + 1, dtype=bool)
        for code, path in enumerate(self.categories.values):
            key = _key(path)
            table[code] = key == wanted or key.startswith(wanted + " >")
        if len(self._under) > 1000:
            self._under.clear()
        self._under[wanted] = (len(self.categories), table)
        return table

    def category_level(self, levels: int) -> Codes:
        """Lookup table from category codes to codes of their first `levels` levels (the
        groups of a diversity cap on category), one longer: -1 reads -1."""
        cached = self._levels.get(levels)
        if cached is not None and cached[0] == len(self.categories):
            return cached[1]
        groups: dict[str, int] = {}
        table = np.full(len(self.categories) + 1, MISSING, dtype=np.int32)
        for code, path in enumerate(self.categories.values):
            head = " > ".join(_key(path).split(" > ")[:levels])
            table[code] = groups.setdefault(head, len(groups))
        self._levels[levels] = (len(self.categories), table)
        return table

    def _write(self, rows: list[Mapping[str, Any]]) -> npt.NDArray[np.int64]:
        new = [
            pid for pid in dict.fromkeys(r["product_id"] for r in rows) if pid not in self._index
        ]
        if new:
            self._grow(new)
        written = np.fromiter((self._index[r["product_id"]] for r in rows), np.int64, len(rows))
        for index, row in zip(written.tolist(), rows, strict=True):
            self._write_row(index, row)
        if written.size:
            # Derived columns of the rows written, in one go.
            price, sale = self.price[written], self.sale_price[written]
            self.effective_price[written] = np.where(np.isnan(sale), price, sale)
            self.on_sale[written] = sale < price
        self.version += 1
        self._log.append((self.version, np.unique(written)))
        del self._log[:-_LOG_LENGTH]
        return np.unique(written)

    def _grow(self, new_ids: list[str]) -> None:
        # New arrays are built whole and then swapped in: a request reading the old ones
        # meanwhile sees a consistent, shorter catalog.
        extra = len(new_ids)
        for pid in new_ids:
            self._index[pid] = len(self.item_ids)
            self.item_ids.append(pid)

        def longer(array: npt.NDArray[Any], fill: Any) -> npt.NDArray[Any]:
            return np.concatenate([array, np.full(extra, fill, dtype=array.dtype)])

        self.price = longer(self.price, np.nan)
        self.sale_price = longer(self.sale_price, np.nan)
        self.effective_price = longer(self.effective_price, np.nan)
        self.on_sale = longer(self.on_sale, False)
        self.in_stock = longer(self.in_stock, False)
        self.brand = longer(self.brand, MISSING)
        self.category = longer(self.category, MISSING)
        self.item_group = longer(self.item_group, MISSING)
        self.added_at = longer(self.added_at, np.nan)
        for column in self.attributes.values():
            column.grow(len(self.item_ids))

    def _write_row(self, i: int, row: Mapping[str, Any]) -> None:
        if "price" in row:
            self.price[i] = _number(row["price"])
        if "sale_price" in row:
            self.sale_price[i] = _number(row["sale_price"])
        if {"in_stock", "availability", "stock_quantity", "deleted"} & row.keys():
            self.in_stock[i] = _sellable(row)
        if "brand" in row:
            self.brand[i] = self.brands.add(row["brand"])
        if "category" in row:
            path = _path(row["category"])
            self.category[i] = MISSING if path is None else self.categories.add(path)
        if "item_group_id" in row:
            self.item_group[i] = self.item_groups.add(row["item_group_id"])
        added = row.get("added_at", row.get("created_at"))
        if added is not None:
            self.added_at[i] = _time_ms(added)
        if "attributes" in row:
            values = row["attributes"] if isinstance(row["attributes"], Mapping) else {}
            for name, column in self.attributes.items():
                if name not in values:
                    column.write(i, None)
            for name, value in values.items():
                if str(name) not in self.attributes:
                    self.attributes[str(name)] = AttributeColumn(len(self.item_ids))
                self.attributes[str(name)].write(i, value)
