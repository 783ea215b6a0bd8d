"""The demo storefront (``/demo``, relevo.storefront): HTML pages, not part of the API (kept
out of the OpenAPI schema). Each route reads the visitor's cookies, builds the page's context
and renders one page."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Cookie, Depends, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from relevo.api.deps import ServicesDep
from relevo.demo.seed import TRADE_CUSTOMER
from relevo.services import Services
from relevo.storefront import pages
from relevo.storefront.cart import COOKIE as CART_COOKIE
from relevo.storefront.cart import read_cart
from relevo.storefront.catalog import CatalogCache, tile_svg
from relevo.storefront.personas import COOKIE as PERSONA_COOKIE
from relevo.storefront.personas import (
    customer,
    newsletter_url,
    persona_of,
    sign_in_token,
)
from relevo.storefront.shop import DemoShop, ShopNotLoaded, demo_shop
from relevo.storefront.visitor import COOKIE as VISITOR_COOKIE
from relevo.storefront.visitor import Visitor

router = APIRouter(prefix="/demo", include_in_schema=False)

STATIC = Path(pages.__file__).with_name("static")
_STATIC_FILES = {"shop.css": "text/css", "shop.js": "text/javascript"}

VisitorCookie = Annotated[str | None, Cookie(alias=VISITOR_COOKIE)]
CartCookie = Annotated[str | None, Cookie(alias=CART_COOKIE)]
PersonaCookie = Annotated[str | None, Cookie(alias=PERSONA_COOKIE)]


@dataclass(frozen=True)
class Visit:
    """One page request: the app's services and catalog cache, and the visitor's cookies."""

    services: Services
    catalogs: CatalogCache
    visitor: str | None
    cart: str | None
    persona: str | None


def _catalogs(request: Request, services: Services) -> CatalogCache:
    """The storefront's catalog cache, one per app (beside its services)."""
    state = request.app.state
    cache: CatalogCache | None = getattr(state, "storefront_catalogs", None)
    if cache is None:
        cache = state.storefront_catalogs = CatalogCache(services.catalog)
    return cache


async def get_visit(
    request: Request,
    services: ServicesDep,
    visitor: VisitorCookie = None,
    cart: CartCookie = None,
    persona: PersonaCookie = None,
) -> Visit:
    return Visit(services, _catalogs(request, services), visitor, cart, persona)


VisitDep = Annotated[Visit, Depends(get_visit)]


def _html(body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(body, status_code=status, headers={"Cache-Control": "no-store"})


def _page(visit: Visit, render: pages.Render) -> HTMLResponse:
    try:
        shop = demo_shop(visit.services.workspaces)
    except ShopNotLoaded as error:
        return _html(pages.not_loaded(error.message), 404)
    context = pages.PageContext(
        shop=shop,
        catalog=visit.catalogs.get(shop.workspace_id),
        visitor=Visitor.of(visit.services, shop.workspace_id, visit.visitor),
        persona=persona_of(visit.persona),
        cart=read_cart(visit.cart),
    )
    body = render(context)
    if body is None:
        return _html(pages.not_found(context, "There is no such page in the shop."), 404)
    return _html(body)


@router.get("", response_class=HTMLResponse)
def home(visit: VisitDep) -> HTMLResponse:
    return _page(visit, pages.home)


@router.get("/category/{category_slug}", response_class=HTMLResponse)
def category(
    category_slug: str, visit: VisitDep, page: Annotated[int, Query(ge=1, le=10_000)] = 1
) -> HTMLResponse:
    return _page(visit, lambda c: pages.category(c, category_slug, page))


@router.get("/product/{product_id}", response_class=HTMLResponse)
def product(product_id: str, visit: VisitDep) -> HTMLResponse:
    return _page(visit, lambda c: pages.product(c, product_id))


@router.get("/cart", response_class=HTMLResponse)
def cart(visit: VisitDep) -> HTMLResponse:
    return _page(visit, pages.cart)


@router.get("/checkout", response_class=HTMLResponse)
def checkout(visit: VisitDep) -> HTMLResponse:
    return _page(visit, pages.checkout)


@router.get("/journal", response_class=HTMLResponse)
def journal(visit: VisitDep) -> HTMLResponse:
    return _page(visit, pages.journal)


@router.get("/article/{article_slug}", response_class=HTMLResponse)
def article(article_slug: str, visit: VisitDep) -> HTMLResponse:
    return _page(visit, lambda c: pages.article(c, article_slug))


def _switch(body: str, persona: str) -> HTMLResponse:
    response = _html(body)
    response.set_cookie(PERSONA_COOKIE, persona, max_age=30 * 86_400, samesite="lax")
    return response


def _shop_or_page(services: Services) -> DemoShop | HTMLResponse:
    try:
        return demo_shop(services.workspaces)
    except ShopNotLoaded as error:
        return _html(pages.not_loaded(error.message), 404)


@router.get("/persona/new", response_class=HTMLResponse)
def become_new_visitor() -> HTMLResponse:
    return _switch(pages.switching(None, "/demo"), "new")


@router.get("/persona/customer/{user_id}", response_class=HTMLResponse)
def become_customer(user_id: str, services: ServicesDep) -> HTMLResponse:
    shop = _shop_or_page(services)
    if isinstance(shop, HTMLResponse):
        return shop
    who = customer(user_id)
    if who is None:
        return _html(pages.not_loaded(f"{user_id!r} is not one of the demo's customers."), 404)
    token = sign_in_token(shop, who)
    return _switch(
        pages.switching(shop.write_key, "/demo", who.user_id, token), f"customer:{who.user_id}"
    )


@router.get("/persona/trade", response_class=HTMLResponse)
def become_trade_customer(services: ServicesDep) -> HTMLResponse:
    return become_customer(TRADE_CUSTOMER.user_id, services)


@router.get("/persona/newsletter", response_class=HTMLResponse)
def arrive_from_newsletter(services: ServicesDep) -> HTMLResponse:
    shop = _shop_or_page(services)
    if isinstance(shop, HTMLResponse):
        return shop
    landing = newsletter_url(shop, services.people)
    if landing is None:
        return _html(pages.not_loaded("The newsletter's customer is not in this demo."), 404)
    return _switch(pages.switching(None, landing), "newsletter")


@router.get("/tile/{product_id}.svg")
def tile(product_id: str, visit: VisitDep) -> Response:
    title = product_id
    try:
        shop = demo_shop(visit.services.workspaces)
        found = visit.catalogs.get(shop.workspace_id).by_id.get(product_id)
        if found is not None:
            title = found.title
    except ShopNotLoaded:
        pass
    return Response(
        tile_svg(product_id, title),
        media_type="image/svg+xml",
        headers={"Cache-Control": "public, max-age=86400"},
    )


@router.get("/static/{name}")
def static(name: str) -> Response:
    media = _STATIC_FILES.get(name)
    if media is None:
        return _html("not found", 404)
    return FileResponse(STATIC / name, media_type=media, headers={"Cache-Control": "no-cache"})


@router.get("/", include_in_schema=False)
def slash() -> RedirectResponse:
    return RedirectResponse("/demo")
