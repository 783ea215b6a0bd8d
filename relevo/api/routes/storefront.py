"""The demo storefront (``/demo``, relevo.storefront): HTML pages, not part of the API (kept
out of the OpenAPI schema). Each route reads the visitor's cookies, builds the page's context
and renders one page."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Cookie, Query
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
_catalogs: dict[int, CatalogCache] = {}  # one per Services (id), as the app has one

VisitorCookie = Annotated[str | None, Cookie(alias=VISITOR_COOKIE)]
CartCookie = Annotated[str | None, Cookie(alias=CART_COOKIE)]
PersonaCookie = Annotated[str | None, Cookie(alias=PERSONA_COOKIE)]


def _html(body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(body, status_code=status, headers={"Cache-Control": "no-store"})


def _catalog(services: Services) -> CatalogCache:
    cache = _catalogs.get(id(services))
    if cache is None:
        cache = _catalogs[id(services)] = CatalogCache(services.catalog)
    return cache


def _context(
    services: Services, visitor: str | None, cart: str | None, persona: str | None
) -> pages.PageContext:
    shop = demo_shop(services.workspaces)
    return pages.PageContext(
        shop=shop,
        catalog=_catalog(services).get(shop.workspace_id),
        visitor=Visitor.of(services, shop.workspace_id, visitor),
        persona=persona_of(persona),
        cart=read_cart(cart),
    )


def _page(
    services: Services,
    visitor: str | None,
    cart: str | None,
    persona: str | None,
    render: pages.Render,
) -> HTMLResponse:
    try:
        context = _context(services, visitor, cart, persona)
    except ShopNotLoaded as error:
        return _html(pages.not_loaded(error.message), 404)
    body = render(context)
    if body is None:
        return _html(pages.not_found(context, "There is no such page in the shop."), 404)
    return _html(body)


@router.get("", response_class=HTMLResponse)
def home(
    services: ServicesDep, visitor: VisitorCookie = None, cart: CartCookie = None,
    persona: PersonaCookie = None,
) -> HTMLResponse:  # fmt: skip
    return _page(services, visitor, cart, persona, pages.home)


@router.get("/category/{category_slug}", response_class=HTMLResponse)
def category(
    category_slug: str, services: ServicesDep, page: Annotated[int, Query(ge=1, le=10_000)] = 1,
    visitor: VisitorCookie = None, cart: CartCookie = None, persona: PersonaCookie = None,
) -> HTMLResponse:  # fmt: skip
    return _page(services, visitor, cart, persona, lambda c: pages.category(c, category_slug, page))


@router.get("/product/{product_id}", response_class=HTMLResponse)
def product(
    product_id: str, services: ServicesDep, visitor: VisitorCookie = None,
    cart: CartCookie = None, persona: PersonaCookie = None,
) -> HTMLResponse:  # fmt: skip
    return _page(services, visitor, cart, persona, lambda c: pages.product(c, product_id))


@router.get("/cart", response_class=HTMLResponse)
def cart_page(
    services: ServicesDep, visitor: VisitorCookie = None, cart: CartCookie = None,
    persona: PersonaCookie = None,
) -> HTMLResponse:  # fmt: skip
    return _page(services, visitor, cart, persona, pages.cart)


@router.get("/checkout", response_class=HTMLResponse)
def checkout(
    services: ServicesDep, visitor: VisitorCookie = None, cart: CartCookie = None,
    persona: PersonaCookie = None,
) -> HTMLResponse:  # fmt: skip
    return _page(services, visitor, cart, persona, pages.checkout)


@router.get("/journal", response_class=HTMLResponse)
def journal(
    services: ServicesDep, visitor: VisitorCookie = None, cart: CartCookie = None,
    persona: PersonaCookie = None,
) -> HTMLResponse:  # fmt: skip
    return _page(services, visitor, cart, persona, pages.journal)


@router.get("/article/{article_slug}", response_class=HTMLResponse)
def article(
    article_slug: str, services: ServicesDep, visitor: VisitorCookie = None,
    cart: CartCookie = None, persona: PersonaCookie = None,
) -> HTMLResponse:  # fmt: skip
    return _page(services, visitor, cart, persona, lambda c: pages.article(c, article_slug))


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
def tile(product_id: str, services: ServicesDep) -> Response:
    title = product_id
    try:
        shop = demo_shop(services.workspaces)
        found = _catalog(services).get(shop.workspace_id).by_id.get(product_id)
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
