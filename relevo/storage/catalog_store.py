"""The product catalog in the database: batch upserts, tombstone deletes, pages, stock changes."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, and_, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from relevo.catalog.product import Product, Source
from relevo.recs.data import CatalogItem
from relevo.storage import schema as t
from relevo.storage.database import Database

BATCH = 500
_UPDATABLE = [
    "sku", "title", "description", "brand", "category", "price", "sale_price", "currency",
    "availability", "stock_quantity", "image_url", "url", "item_group_id", "attributes",
    "source", "deleted", "updated_at",
]  # fmt: skip


def _decimal(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def product_row(workspace_id: int, product: Product, source: Source, now_ms: int) -> dict[str, Any]:
    return {
        "workspace_id": workspace_id,
        "product_id": product.product_id,
        "sku": product.sku,
        "title": product.title,
        "description": product.description,
        "brand": product.brand,
        "category": product.category_path,
        "price": _decimal(product.price),
        "sale_price": _decimal(product.sale_price),
        "currency": product.currency,
        "availability": product.availability.value,
        "stock_quantity": product.stock_quantity,
        "image_url": product.image_url,
        "url": product.url,
        "item_group_id": product.item_group_id,
        "attributes": product.attributes,
        "source": source.value,
        "deleted": 0,
        "created_at": now_ms,
        "updated_at": now_ms,
    }


def product_view(row: Any) -> dict[str, Any]:
    """The public shape of a stored product (API responses, exports)."""
    m = row._mapping
    return {
        "product_id": m["product_id"],
        "sku": m["sku"],
        "title": m["title"],
        "description": m["description"],
        "brand": m["brand"],
        "category": [p for p in m["category"].split(" > ") if p],
        "price": m["price"],
        "sale_price": m["sale_price"],
        "currency": m["currency"],
        "availability": m["availability"],
        "stock_quantity": m["stock_quantity"],
        "image_url": m["image_url"],
        "url": m["url"],
        "item_group_id": m["item_group_id"],
        "attributes": m["attributes"],
        "source": m["source"],
        "created_at": m["created_at"],
        "updated_at": m["updated_at"],
    }


_CARD_FIELDS = (
    "sku",
    "title",
    "brand",
    "category",
    "price",
    "sale_price",
    "currency",
    "availability",
    "image_url",
    "url",
    "item_group_id",
    "attributes",
)


def product_card(view: dict[str, Any]) -> dict[str, Any]:
    return {key: view[key] for key in _CARD_FIELDS}


def _sellable(availability: str, stock: int | None) -> bool:
    return availability != "out_of_stock" and (stock is None or stock > 0)


class CatalogStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def _insert(self) -> Any:
        return (sqlite.insert if self.db.is_sqlite else postgresql.insert)(t.products)

    def upsert(self, workspace_id: int, products: Sequence[Product], now_ms: int) -> int:
        """Insert or replace products sent by the shop (a later duplicate id in the same call
        wins); returns how many rows were written."""
        latest = {p.product_id: p for p in products}
        rows = [product_row(workspace_id, p, Source.CATALOG, now_ms) for p in latest.values()]
        insert = self._insert()
        statement = insert.on_conflict_do_update(
            index_elements=["workspace_id", "product_id"],
            set_={name: insert.excluded[name] for name in _UPDATABLE},
        )
        with self.db.write() as conn:
            for start in range(0, len(rows), BATCH):
                # executemany of one cached statement: a multi-VALUES statement is compiled
                # anew for every distinct row count, which cost more than the insert itself.
                conn.execute(statement, rows[start : start + BATCH])
        return len(rows)

    def add_seen_in_events(
        self, conn: Connection, workspace_id: int, products: Sequence[Product], now_ms: int
    ) -> None:
        """Products met in events that the catalog does not have yet (flagged source=events);
        never touches a product the shop sent. Runs inside the caller's transaction."""
        rows = [product_row(workspace_id, p, Source.EVENTS, now_ms) for p in products]
        if rows:
            conn.execute(self._insert().on_conflict_do_nothing(), rows)

    def delete(self, workspace_id: int, product_ids: Sequence[str], now_ms: int) -> int:
        c = t.products.c
        deleted = 0
        with self.db.write() as conn:
            for start in range(0, len(product_ids), BATCH):
                chunk = list(product_ids[start : start + BATCH])
                deleted += conn.execute(
                    update(t.products)
                    .where(c.workspace_id == workspace_id, c.product_id.in_(chunk), c.deleted == 0)
                    .values(deleted=1, updated_at=now_ms)
                ).rowcount
        return deleted

    def get(self, workspace_id: int, product_id: str) -> dict[str, Any] | None:
        c = t.products.c
        with self.db.read() as conn:
            row = conn.execute(
                select(t.products).where(
                    c.workspace_id == workspace_id, c.product_id == product_id, c.deleted == 0
                )
            ).first()
        return None if row is None else product_view(row)

    def cards(self, workspace_id: int, product_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """What a page needs to show each product (no description): one indexed read."""
        c = t.products.c
        wanted = list(dict.fromkeys(product_ids))
        if not wanted:
            return {}
        with self.db.read() as conn:
            rows = conn.execute(
                select(t.products).where(
                    c.workspace_id == workspace_id, c.product_id.in_(wanted), c.deleted == 0
                )
            ).all()
        return {row.product_id: product_card(product_view(row)) for row in rows}

    def page(
        self, workspace_id: int, after: str | None, limit: int, source: str | None = None
    ) -> list[dict[str, Any]]:
        c = t.products.c
        query = select(t.products).where(c.workspace_id == workspace_id, c.deleted == 0)
        if after is not None:
            query = query.where(c.product_id > after)
        if source is not None:
            query = query.where(c.source == source)
        with self.db.read() as conn:
            rows = conn.execute(query.order_by(c.product_id).limit(limit)).all()
        return [product_view(r) for r in rows]

    def card_page(
        self, workspace_id: int, after: str | None, limit: int
    ) -> list[tuple[str, dict[str, Any]]]:
        """(product id, card) of the next ``limit`` products after ``after``, in id order."""
        views = self.page(workspace_id, after, limit)
        return [(view["product_id"], product_card(view)) for view in views]

    def count(self, workspace_id: int) -> int:
        c = t.products.c
        with self.db.read() as conn:
            return int(
                conn.execute(
                    select(func.count()).where(c.workspace_id == workspace_id, c.deleted == 0)
                ).scalar_one()
            )

    def training_items(self, workspace_id: int) -> list[CatalogItem]:
        c = t.products.c
        query = select(
            c.product_id, c.title, c.description, c.brand, c.category, c.price, c.sale_price,
            c.availability, c.stock_quantity,
        ).where(c.workspace_id == workspace_id, c.deleted == 0).order_by(c.product_id)  # fmt: skip
        with self.db.read() as conn:
            rows = conn.execute(query).all()
        return [
            CatalogItem(
                item_id=r[0],
                title=r[1],
                description=r[2],
                brand=r[3] or "",
                category=r[4],
                price=float(r[6] or r[5]) if (r[6] or r[5]) else None,
                in_stock=_sellable(r[7], r[8]),
            )
            for r in rows
        ]

    def stock_changes(self, workspace_id: int, since_ms: int) -> list[tuple[str, bool, int]]:
        """(product_id, sellable, updated_at) of products changed at or after `since_ms`
        (deleted ones are not sellable)."""
        c = t.products.c
        with self.db.read() as conn:
            rows = conn.execute(
                select(c.product_id, c.availability, c.stock_quantity, c.deleted, c.updated_at)
                .where(and_(c.workspace_id == workspace_id, c.updated_at >= since_ms))
                .order_by(c.updated_at)
            ).all()
        return [(r[0], not r[3] and _sellable(r[1], r[2]), r[4]) for r in rows]

    def catalog_rows(self, workspace_id: int, since_ms: int | None) -> list[dict[str, Any]]:
        """What merchandising rules read of each product (relevo.rules.catalog), deleted ones
        included so that a server sees the deletion; updated at or after `since_ms` (None:
        every product)."""
        c = t.products.c
        query = select(
            c.product_id, c.brand, c.category, c.price, c.sale_price, c.availability,
            c.stock_quantity, c.item_group_id, c.attributes, c.deleted, c.created_at,
            c.updated_at,
        ).where(c.workspace_id == workspace_id)  # fmt: skip
        if since_ms is not None:
            query = query.where(c.updated_at >= since_ms)
        with self.db.read() as conn:
            rows = conn.execute(query.order_by(c.updated_at)).all()
        return [
            {
                "product_id": r[0],
                "brand": r[1],
                "category": r[2],
                "price": r[3],
                "sale_price": r[4],
                "availability": r[5],
                "stock_quantity": r[6],
                "item_group_id": r[7],
                "attributes": r[8] if isinstance(r[8], dict) else {},
                "deleted": bool(r[9]),
                "created_at": r[10],
                "updated_at": r[11],
            }
            for r in rows
        ]
