"""Who is looking at a storefront page, from the snippet's first-party cookie (the storefront
and Relevo share an origin), and what the page shows them on the server: the category's
products ordered for them (a re-rank), trade prices for a member of a B2B account, and the
placements' fallback shelves before the snippet's decision fills them."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from relevo.identity.identities import ANONYMOUS_ID
from relevo.recs.service import Context
from relevo.recs.serving import Exclusions
from relevo.rules.account_terms import AccountTerms, agreed_price
from relevo.services import Services
from relevo.storefront.catalog import ShopCatalog, ShopProduct

COOKIE = "rlv_aid"  # the snippet's anonymous id (relevo/snippet/relevo.js)
MAX_RERANK = 1000


@dataclass(frozen=True)
class Priced:
    """A product with the price this visitor pays (``list_price`` set when it is agreed)."""

    product: ShopProduct
    price: Decimal
    list_price: Decimal | None = None


@dataclass
class Visitor:
    services: Services
    workspace_id: int
    anonymous_id: str | None
    profile_id: int | None = None

    @classmethod
    def of(cls, services: Services, workspace_id: int, anonymous_id: str | None) -> Visitor:
        profile = None
        if anonymous_id:
            identity = (ANONYMOUS_ID, anonymous_id[:255])
            profile = services.people.profile_ids(workspace_id, [identity]).get(identity)
        return cls(services, workspace_id, anonymous_id, profile)

    def terms(self, product_ids: Sequence[str]) -> list[AccountTerms]:
        """The visitor's accounts' terms with the agreed prices of these products."""
        return self.services.recommendations.account_terms(
            self.workspace_id, self.profile_id, list(product_ids)
        )

    def priced(self, products: Sequence[ShopProduct]) -> list[Priced]:
        terms = self.terms([p.product_id for p in products])
        shown = []
        for product in products:
            agreed = agreed_price(terms, product.product_id) if terms else None
            if agreed is None:
                shown.append(Priced(product, product.price))
            else:
                shown.append(Priced(product, Decimal(agreed.price), product.price))
        return shown

    @property
    def trade_account(self) -> str | None:
        """The first account with a price list the visitor is a member of."""
        priced = [t for t in self.terms([]) if t.has_prices]
        return priced[0].group_id if priced else None

    def ranked(self, products: Sequence[ShopProduct]) -> list[ShopProduct]:
        """A category's products in the order this visitor is likeliest to want them (the
        for-you model's re-rank); as listed when there is no model or no history."""
        candidates = [p.product_id for p in products[:MAX_RERANK]]
        if not candidates:
            return []
        outcome = self.services.recommendations.answer(
            self.workspace_id,
            "rerank",
            (ANONYMOUS_ID, self.anonymous_id) if self.anonymous_id else None,
            Context(candidates=candidates, placement="category-grid"),
            len(candidates),
            Exclusions(out_of_stock=False, in_view=False, in_cart=False, purchased=False),
            int(time.time() * 1000),
        )
        by_id = {p.product_id: p for p in products}
        first = [by_id[i["product_id"]] for i in outcome.items if i["product_id"] in by_id]
        placed = {p.product_id for p in first}
        return first + [p for p in products if p.product_id not in placed]

    def shelf(
        self,
        catalog: ShopCatalog,
        strategy: str,
        count: int,
        product_id: str | None = None,
        cart: Sequence[str] = (),
    ) -> list[ShopProduct]:
        """A recommendation block rendered on the server: what a placement shows until (or
        unless) the snippet's decision replaces it."""
        outcome = self.services.recommendations.answer(
            self.workspace_id,
            strategy,
            (ANONYMOUS_ID, self.anonymous_id) if self.anonymous_id else None,
            Context(product_id=product_id, cart=list(cart)),
            count,
            Exclusions(),
            int(time.time() * 1000),
        )
        found = (catalog.by_id.get(i["product_id"]) for i in outcome.items)
        return [p for p in found if p is not None]
