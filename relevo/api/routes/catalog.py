"""The product catalog (secret key): batch upsert and delete, one product, pages. Read for a
person (`for_kind`, `for_value`), a member of a B2B account sees only its assortment, at the
agreed prices."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from relevo.api.auth import SecretWorkspace
from relevo.api.deps import ServicesDep
from relevo.api.responses import JSON
from relevo.api.segment_schema import error_responses
from relevo.catalog.feeds.rows import describe
from relevo.catalog.price import PriceError
from relevo.catalog.product import Product
from relevo.errors import NotFound, RelevoError
from relevo.identity.identities import normalise_lookup
from relevo.rules.account_terms import AccountTerms, agreed_price, in_assortment, priced_card
from relevo.services import Services
from relevo.storable import replace_unstorable

router = APIRouter(prefix="/v1/catalog", tags=["catalog"])

MAX_BATCH = 10_000
_RESPONSES = error_responses(
    {
        400: "Malformed request",
        401: "Missing or unknown secret key",
        403: "A write key: the catalog is read and changed with the secret key",
    }
)


class ProductsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    products: list[dict[str, Any]] = Field(
        max_length=MAX_BATCH,
        description="Products (product_id, title, price like 15.00 or '15.00 USD', category "
        "'A > B' or a list, availability, ...); each is validated on its own",
    )


class DeleteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    product_ids: list[str] = Field(max_length=MAX_BATCH)

    @field_validator("product_ids")
    @classmethod
    def _as_stored(cls, ids: list[str]) -> list[str]:
        return [replace_unstorable(i) for i in ids]


def _now_ms() -> int:
    return int(time.time() * 1000)


ForKind = Annotated[
    str | None,
    Query(max_length=40, description="With for_value: the person the products are shown to"),
]
ForValue = Annotated[str | None, Query(max_length=255)]


def _terms_for(
    services: Services, workspace_id: int, kind: str | None, value: str | None, priced: list[str]
) -> list[AccountTerms]:
    """The account terms of the person the products are for (none: no person given, or one
    in no account with terms)."""
    if kind is None and value is None:
        return []
    identity = normalise_lookup(kind or "", value or "") if kind and value else None
    if identity is None:
        raise RelevoError("for_kind and for_value name a person together (user_id, email, ...)")
    profile = services.people.profile_ids(workspace_id, [identity]).get(identity)
    return services.recommendations.account_terms(workspace_id, profile, priced)


def _for(terms: list[AccountTerms], product: dict[str, Any]) -> dict[str, Any] | None:
    if not in_assortment(terms, product["product_id"], product["category"]):
        return None
    return priced_card(product, agreed_price(terms, product["product_id"]))


@router.post("/products", responses=_RESPONSES, summary="Insert or replace up to 10,000 products")
def upsert_products(body: ProductsIn, workspace: SecretWorkspace, services: ServicesDep) -> JSON:
    """Valid products are stored; each invalid one is reported by index with the reason, so
    one bad row never costs the others."""
    valid: list[Product] = []
    rejected = []
    for index, raw in enumerate(body.products):
        try:
            valid.append(Product.model_validate(raw))
        except ValidationError as error:
            reason = describe(error)
            rejected.append({"index": index, "product_id": raw.get("product_id"), "reason": reason})
        except PriceError as error:
            rejected.append(
                {"index": index, "product_id": raw.get("product_id"), "reason": str(error)}
            )
    stored = services.catalog.upsert(workspace.id, valid, _now_ms()) if valid else 0
    return JSON({"stored": stored, "rejected": rejected})


@router.post("/products/delete", responses=_RESPONSES, summary="Delete products by id")
def delete_products(body: DeleteIn, workspace: SecretWorkspace, services: ServicesDep) -> JSON:
    """Idempotent: ids that are unknown or already deleted count as nothing deleted."""
    return JSON({"deleted": services.catalog.delete(workspace.id, body.product_ids, _now_ms())})


@router.get(
    "/products/{product_id}",
    responses={**_RESPONSES, **error_responses({404: "No product with this id"})},
    summary="One product",
)
def get_product(
    product_id: str,
    workspace: SecretWorkspace,
    services: ServicesDep,
    for_kind: ForKind = None,
    for_value: ForValue = None,
) -> JSON:
    """For a person (`for_kind`, `for_value`) in a B2B account: a product outside the
    account's assortment is a 404, and the price is the agreed one (`list_price` beside it)."""
    terms = _terms_for(services, workspace.id, for_kind, for_value, [product_id])
    product = services.catalog.get(workspace.id, product_id)
    shown = None if product is None else _for(terms, product)
    if shown is None:
        raise NotFound(f"no product {product_id!r} in this workspace's catalog (for this person)")
    return JSON(shown)


@router.get("/products", responses=_RESPONSES, summary="Products in id order, page by page")
def list_products(
    workspace: SecretWorkspace,
    services: ServicesDep,
    after: str | None = Query(None, description="The last product_id of the previous page"),
    limit: int = Query(100, ge=1, le=1000),
    source: str | None = Query(None, pattern="^(catalog|events)$"),
    for_kind: ForKind = None,
    for_value: ForValue = None,
) -> JSON:
    """For a person in a B2B account, the page holds only the products of its assortment
    (a page may then be shorter than `limit`: follow `next_after`), at the agreed prices."""
    products = services.catalog.page(workspace.id, after, limit, source)
    next_after = products[-1]["product_id"] if len(products) == limit else None
    terms = _terms_for(
        services, workspace.id, for_kind, for_value, [p["product_id"] for p in products]
    )
    if terms:
        products = [p for p in (_for(terms, p) for p in products) if p is not None]
    return JSON(
        {
            "products": products,
            "next_after": next_after,
            "total": services.catalog.count(workspace.id),
        }
    )
