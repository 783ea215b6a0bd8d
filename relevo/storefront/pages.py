"""The storefront's pages: what each one shows, rendered from ``templates/`` (Jinja2, escaped).

Every page loads /relevo.js with the demo's browser key and marks its placements
(``data-relevo-placement``, and the element id the placement's selector names), its product
(``data-relevo-product``), its add-to-cart buttons (``data-relevo-add-to-cart``) and its cart
(``data-relevo-cart``), so the snippet tracks the visit and fills the placements. Slots hold
what the page shows without a decision (the placement's default, drawn on the server)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from relevo.demo.categories import by_slug, slug
from relevo.storefront.cart import CartLine, cart_total
from relevo.storefront.catalog import ShopCatalog
from relevo.storefront.personas import Persona, demo_customers
from relevo.storefront.shop import DemoShop
from relevo.storefront.visitor import Priced, Visitor

TEMPLATES = Path(__file__).with_name("templates")
PAGE_SIZE = 24
SHELF = 4
ARTICLES = {
    "winter-mantelpiece": (
        "Styling a winter mantelpiece",
        "Candles, greenery and a few well-chosen pieces: how our buyers dress a fireplace for "
        "the darker months without it looking like a shop window.",
    ),
    "tea-party": (
        "The afternoon tea party, done properly",
        "Cake stands, bunting and the right number of teacups: a planner's checklist for a "
        "garden tea party for twelve.",
    ),
    "childrens-room": (
        "A children's room that grows with them",
        "Storage that hides the chaos, lights that calm bedtime and a few toys worth keeping: "
        "ideas from parents among our customers.",
    ),
}

_env = Environment(  # the shop's own templates: trusted, so not sandboxed
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(("html",)),
    trim_blocks=True,
    lstrip_blocks=True,
)


def money(amount: Decimal | str | float | None) -> str:
    if amount is None:
        return ""
    return f"£{Decimal(str(amount)):,.2f}"


_env.filters["money"] = money
_env.globals["slug"] = slug


@dataclass
class PageContext:
    """What every page knows: the shop, its catalog, the visitor, their persona and cart."""

    shop: DemoShop
    catalog: ShopCatalog
    visitor: Visitor
    persona: Persona
    cart: dict[str, int] = field(default_factory=dict)

    def cart_lines(self) -> list[CartLine]:
        products = [self.catalog.by_id[i] for i in self.cart if i in self.catalog.by_id]
        priced = self.visitor.priced(products)
        return [CartLine(item, self.cart[item.product.product_id]) for item in priced]

    def common(self, title: str, lines: list[CartLine] | None = None) -> dict[str, Any]:
        lines = self.cart_lines() if lines is None else lines
        cart = [
            {
                "product_id": line.item.product.product_id,
                "price": float(line.item.price),
                "quantity": line.quantity,
            }
            for line in lines
        ]
        return {
            "title": title,
            "write_key": self.shop.write_key,
            "persona": self.persona,
            "customers": demo_customers(),
            "categories": self.catalog.categories(),
            "cart_count": sum(line.quantity for line in lines),
            "cart_json": json.dumps(cart, separators=(",", ":")),
            "trade_account": self.visitor.trade_account,
        }


Render = Callable[[PageContext], str | None]


def _render(name: str, **values: Any) -> str:
    return _env.get_template(name).render(**values)


def _shelf(context: PageContext, strategy: str, **given: Any) -> list[Priced]:
    return context.visitor.priced(context.visitor.shelf(context.catalog, strategy, SHELF, **given))


def home(context: PageContext) -> str:
    return _render(
        "home.html",
        **context.common("Gifts and homeware"),
        trending=_shelf(context, "trending"),
    )


def category(context: PageContext, category_slug: str, page: int) -> str | None:
    name = by_slug(category_slug)
    if name is None:
        return None
    products = context.catalog.by_category.get(name, [])
    ranked = context.visitor.ranked(products)
    pages = max(1, -(-len(ranked) // PAGE_SIZE))
    page = min(max(1, page), pages)
    shown = ranked[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    return _render(
        "category.html",
        **context.common(name),
        category=name,
        category_slug=category_slug,
        products=context.visitor.priced(shown),
        total=len(products),
        page=page,
        pages=pages,
    )


def product(context: PageContext, product_id: str) -> str | None:
    found = context.catalog.by_id.get(product_id)
    if found is None:
        return None
    return _render(
        "product.html",
        **context.common(found.title),
        item=context.visitor.priced([found])[0],
        similar=_shelf(context, "similar", product_id=product_id),
        together=_shelf(context, "bought_together", product_id=product_id),
    )


def cart(context: PageContext) -> str:
    lines = context.cart_lines()
    return _render(
        "cart.html",
        **context.common("Your cart", lines),
        lines=lines,
        total=cart_total(lines),
        cross_sell=_shelf(context, "bought_together", cart=list(context.cart))
        if lines
        else _shelf(context, "trending"),
    )


def checkout(context: PageContext) -> str:
    lines = context.cart_lines()
    return _render(
        "checkout.html", **context.common("Checkout", lines), lines=lines, total=cart_total(lines)
    )


def article(context: PageContext, article_slug: str) -> str | None:
    found = ARTICLES.get(article_slug)
    if found is None:
        return None
    headline, standfirst = found
    others = [(s, a[0]) for s, a in ARTICLES.items() if s != article_slug]
    return _render(
        "article.html",
        **context.common(headline),
        article_slug=article_slug,
        headline=headline,
        standfirst=standfirst,
        others=others,
    )


def journal(context: PageContext) -> str:
    return _render(
        "journal.html",
        **context.common("The journal"),
        articles=[(s, a[0], a[1]) for s, a in ARTICLES.items()],
    )


def switching(
    write_key: str | None, then: str, user_id: str | None = None, token: str | None = None
) -> str:
    """The persona switch's own page: forget this browser's visitor, maybe sign a customer
    in with the storefront's identity token, then go to ``then``."""
    return _render(
        "switch.html", write_key=write_key, then=then, user_id=user_id, identity_token=token
    )


def not_loaded(message: str) -> str:
    return _render("not_loaded.html", message=message)


def not_found(context: PageContext, what: str) -> str:
    return _render("not_found.html", **context.common("Not found"), what=what)
