"""The demo catalog as the storefront shows it: products by category, in memory, re-read at
most once a minute (a few thousand rows), and the drawn tiles that stand in for photos."""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from xml.sax.saxutils import escape

from relevo.demo.categories import CATEGORIES, slug
from relevo.storage.catalog_store import CatalogStore

REFRESH_SECONDS = 60.0
_PAGE = 1000


@dataclass(frozen=True)
class ShopProduct:
    product_id: str
    title: str  # as a person reads it ("Regency cakestand 3 tier")
    category: str
    price: Decimal
    currency: str

    @property
    def url(self) -> str:
        return f"/demo/product/{self.product_id}"

    @property
    def category_url(self) -> str:
        return f"/demo/category/{slug(self.category)}"


def readable(title: str) -> str:
    """The data set's titles are in capitals: sentence case reads better."""
    text = " ".join(title.split())
    return text[:1].upper() + text[1:].lower() if text else text


def _product(view: dict[str, Any]) -> ShopProduct | None:
    if view.get("price") is None:
        return None
    category = view["category"][0] if view.get("category") else CATEGORIES[-1]
    return ShopProduct(
        view["product_id"],
        readable(view.get("title") or view["product_id"]),
        category,
        Decimal(view["price"]),
        view.get("currency") or "GBP",
    )


class ShopCatalog:
    def __init__(self, products: list[ShopProduct]) -> None:
        self.by_id = {p.product_id: p for p in products}
        self.by_category: dict[str, list[ShopProduct]] = {c: [] for c in CATEGORIES}
        for product in products:
            self.by_category.setdefault(product.category, []).append(product)

    @classmethod
    def read(cls, store: CatalogStore, workspace_id: int) -> ShopCatalog:
        products: list[ShopProduct] = []
        after = None
        while True:
            page = store.page(workspace_id, after, _PAGE)
            products.extend(p for p in (_product(v) for v in page) if p is not None)
            if len(page) < _PAGE:
                return cls(products)
            after = page[-1]["product_id"]

    def categories(self) -> list[str]:
        return [c for c in CATEGORIES if self.by_category.get(c)]


class CatalogCache:
    """One ShopCatalog per workspace, read again when older than ``REFRESH_SECONDS``."""

    def __init__(self, store: CatalogStore) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._held: dict[int, tuple[float, ShopCatalog]] = {}

    def get(self, workspace_id: int) -> ShopCatalog:
        now = time.monotonic()
        with self._lock:
            held = self._held.get(workspace_id)
            if held is not None and now - held[0] < REFRESH_SECONDS:
                return held[1]
        catalog = ShopCatalog.read(self.store, workspace_id)
        with self._lock:
            self._held[workspace_id] = (now, catalog)
        return catalog


# A muted palette: the tiles stand in for product photos, so they stay quiet.
_PALETTE = (
    ("#e8d5c4", "#7a4e2d"), ("#d4e2d4", "#3d6b4a"), ("#d6dff0", "#3b5284"),
    ("#efd9e1", "#8a3f5c"), ("#f1e6c8", "#7d6420"), ("#dcd3ea", "#5a4785"),
    ("#cfe6e6", "#2f6f6f"), ("#ecd6cf", "#8c4a3a"),
)  # fmt: skip


def tile_colours(product_id: str) -> tuple[str, str]:
    digest = hashlib.blake2b(product_id.encode(), digest_size=2).digest()
    return _PALETTE[int.from_bytes(digest) % len(_PALETTE)]


def initials(title: str) -> str:
    words = [w for w in title.replace("/", " ").split() if w[:1].isalpha()]
    return "".join(w[0] for w in words[:2]).upper() or "·"


def tile_svg(product_id: str, title: str) -> str:
    """A square tile in the product's colour with its initials: the demo has no photos."""
    background, ink = tile_colours(product_id)
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 200 200" width="200" height="200">'
        f'<rect width="200" height="200" fill="{background}"/>'
        f'<circle cx="100" cy="100" r="58" fill="none" stroke="{ink}" stroke-opacity=".25" '
        'stroke-width="2"/>'
        f'<text x="100" y="114" text-anchor="middle" font-family="Georgia, serif" '
        f'font-size="42" fill="{ink}">{escape(initials(title))}</text></svg>'
    )
