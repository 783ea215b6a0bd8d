"""B2B account terms in the database: one assortment row per account, one row per agreed
price; and a person's accounts, read from their profile (computed `groups`, which only trusted
group calls fill: relevo.profiles.state apply_group)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite

from relevo.rules.account_terms import AccountTerms
from relevo.storage import schema as t
from relevo.storage.database import Database

BATCH = 500


class AccountTermsStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def _insert(self, table: Any) -> Any:
        return (sqlite.insert if self.db.is_sqlite else postgresql.insert)(table)

    def set_assortment(self, workspace_id: int, group_id: str, product_ids: Sequence[str],
                       categories: Sequence[str], now_ms: int) -> None:  # fmt: skip
        insert = self._insert(t.account_assortments)
        row = {
            "workspace_id": workspace_id,
            "group_id": group_id,
            "product_ids": list(dict.fromkeys(product_ids)),
            "categories": list(dict.fromkeys(categories)),
            "updated_at": now_ms,
        }
        statement = insert.on_conflict_do_update(
            index_elements=["workspace_id", "group_id"],
            set_={k: insert.excluded[k] for k in ("product_ids", "categories", "updated_at")},
        )
        with self.db.write() as conn:
            conn.execute(statement, row)

    def delete_assortment(self, workspace_id: int, group_id: str) -> bool:
        a = t.account_assortments.c
        with self.db.write() as conn:
            return bool(
                conn.execute(
                    delete(t.account_assortments).where(
                        a.workspace_id == workspace_id, a.group_id == group_id
                    )
                ).rowcount
            )

    def assortment(self, workspace_id: int, group_id: str) -> dict[str, Any] | None:
        a = t.account_assortments.c
        with self.db.read() as conn:
            row = conn.execute(
                select(a.product_ids, a.categories, a.updated_at).where(
                    a.workspace_id == workspace_id, a.group_id == group_id
                )
            ).first()
        if row is None:
            return None
        return {"product_ids": row[0], "categories": row[1], "updated_at": row[2]}

    def set_prices(self, workspace_id: int, group_id: str,
                   prices: Sequence[tuple[str, str, str | None]], replace: bool,
                   now_ms: int) -> int:  # fmt: skip
        """Upsert (product_id, price, currency) rows; with `replace`, the account's other
        prices go. A later duplicate product in the same call wins."""
        latest = {p[0]: p for p in prices}
        rows = [
            {"workspace_id": workspace_id, "group_id": group_id, "product_id": pid,
             "price": price, "currency": currency, "updated_at": now_ms}
            for pid, price, currency in latest.values()
        ]  # fmt: skip
        insert = self._insert(t.account_prices)
        statement = insert.on_conflict_do_update(
            index_elements=["workspace_id", "group_id", "product_id"],
            set_={k: insert.excluded[k] for k in ("price", "currency", "updated_at")},
        )
        p = t.account_prices.c
        with self.db.write() as conn:
            if replace:
                conn.execute(
                    delete(t.account_prices).where(
                        p.workspace_id == workspace_id, p.group_id == group_id
                    )
                )
            for start in range(0, len(rows), BATCH):
                conn.execute(statement, rows[start : start + BATCH])
        return len(rows)

    def prices(self, workspace_id: int, group_id: str, after: str | None,
               limit: int) -> list[dict[str, Any]]:  # fmt: skip
        p = t.account_prices.c
        query = select(p.product_id, p.price, p.currency, p.updated_at).where(
            p.workspace_id == workspace_id, p.group_id == group_id
        )
        if after is not None:
            query = query.where(p.product_id > after)
        with self.db.read() as conn:
            rows = conn.execute(query.order_by(p.product_id).limit(limit)).all()
        return [
            {"product_id": r[0], "price": r[1], "currency": r[2], "updated_at": r[3]} for r in rows
        ]

    def price_list(self, workspace_id: int, group_id: str) -> list[tuple[str, str]]:
        """The account's whole price list, (product_id, price), for its members' rules."""
        p = t.account_prices.c
        with self.db.read() as conn:
            rows = conn.execute(
                select(p.product_id, p.price).where(
                    p.workspace_id == workspace_id, p.group_id == group_id
                )
            ).all()
        return [(r[0], r[1]) for r in rows]

    def revision(self, workspace_id: int) -> tuple[int, int, int, int]:
        """Changes whenever the workspace's terms change (as far as serving needs to know
        whether it has any)."""
        a, p = t.account_assortments.c, t.account_prices.c
        with self.db.read() as conn:
            assortments = conn.execute(
                select(func.count(), func.max(a.updated_at)).where(a.workspace_id == workspace_id)
            ).one()
            prices = conn.execute(
                select(func.count(), func.max(p.updated_at)).where(p.workspace_id == workspace_id)
            ).one()
        return (int(assortments[0]), int(assortments[1] or 0), int(prices[0]),
                int(prices[1] or 0))  # fmt: skip

    def accounts_of(self, workspace_id: int, profile_id: int) -> list[str]:
        """The accounts the person is a member of (trusted group calls only)."""
        pr = t.profiles.c
        with self.db.read() as conn:
            computed = conn.execute(
                select(pr.computed).where(pr.workspace_id == workspace_id, pr.id == profile_id)
            ).scalar_one_or_none()
        groups = computed.get("groups") if isinstance(computed, dict) else None
        return sorted(groups) if isinstance(groups, dict) else []

    def terms(self, workspace_id: int, group_ids: Sequence[str],
              priced: Sequence[str] = ()) -> list[AccountTerms]:  # fmt: skip
        """The terms of these accounts that have an assortment or prices, with the agreed
        prices of the `priced` products only (an answer's, a card's)."""
        if not group_ids:
            return []
        a, p = t.account_assortments.c, t.account_prices.c
        wanted = list(dict.fromkeys(group_ids))
        with self.db.read() as conn:
            assortments = {
                r[0]: (r[1], r[2])
                for r in conn.execute(
                    select(a.group_id, a.product_ids, a.categories).where(
                        a.workspace_id == workspace_id, a.group_id.in_(wanted)
                    )
                )
            }
            priced_groups = set(
                conn.execute(
                    select(p.group_id)
                    .where(p.workspace_id == workspace_id, p.group_id.in_(wanted))
                    .distinct()
                ).scalars()
            )
            prices: dict[str, dict[str, tuple[str, str | None]]] = {g: {} for g in priced_groups}
            products = list(dict.fromkeys(priced))
            for start in range(0, len(products), BATCH):
                for group, product, price, currency in conn.execute(
                    select(p.group_id, p.product_id, p.price, p.currency).where(
                        p.workspace_id == workspace_id,
                        p.group_id.in_(wanted),
                        p.product_id.in_(products[start : start + BATCH]),
                    )
                ):
                    prices[group][product] = (price, currency)
        terms = []
        for group in wanted:
            if group not in assortments and group not in prices:
                continue
            products, categories = assortments.get(group, (None, []))
            terms.append(
                AccountTerms(
                    group,
                    None if products is None else frozenset(products),
                    tuple(categories),
                    prices.get(group, {}),
                    group in priced_groups,
                )
            )
        return terms
