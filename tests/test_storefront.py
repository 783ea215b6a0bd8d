"""The demo storefront's pages through HTTP, on both backends: a small demo workspace (part of
the demo catalog, the demo's customers, the trade account) with every seeded placement and
experience saved through the experiences service. What the pages do in a browser is in
tests/test_demo_e2e_browser.py."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

import pytest
from fastapi.testclient import TestClient

from relevo.api.app import create_app
from relevo.catalog.product import Product
from relevo.demo.categories import CATEGORIES, by_slug, category_of, slug
from relevo.demo.seed import (
    RETURNING_CUSTOMERS,
    TRADE_ACCOUNT,
    TRADE_CUSTOMER,
    demo_catalog,
    seed_demo,
    seeded_experiences,
)
from relevo.identity.proofs import verify_identity_token, verify_link_token
from relevo.services import Services
from relevo.settings import Settings
from relevo.storage.migrate import upgrade
from relevo.storefront.shop import DEMO_WORKSPACE
from relevo.workspaces.keys import NewWorkspace
from tests.conftest import Api

CAKESTAND = "22423"  # REGENCY CAKESTAND 3 TIER, 12.75, Kitchen


@dataclass
class Shop:
    api: Api
    keys: NewWorkspace
    seeded: Any

    def page(self, path: str, **cookies: str) -> Any:
        """A page as a browser with these cookies asks for it (values as the page's script
        writes them: URI-encoded)."""
        self.api.client.cookies.clear()
        header = "; ".join(f"{name}={quote(value)}" for name, value in cookies.items())
        response = self.api.client.get(
            path, headers={"Cookie": header} if header else {}, follow_redirects=False
        )
        self.api.client.cookies.clear()
        return response


@pytest.fixture(scope="module")
def shop(client: TestClient, services: Services) -> Iterator[Shop]:
    keys = services.workspaces.create(DEMO_WORKSPACE)
    api = Api(client, services, keys)
    wanted = {CAKESTAND, "85123A", "22720", "21212"}
    catalog = [p for i, p in enumerate(demo_catalog()) if i < 300 or p["product_id"] in wanted]
    stored = client.post(
        "/v1/catalog/products", json={"products": catalog}, headers=api.secret_auth
    )
    assert stored.status_code == 200, stored.text
    customers = [*RETURNING_CUSTOMERS, TRADE_CUSTOMER]
    hours_ago = _iso(time.time() - 2 * 3600)
    api.batch(
        [
            *({"type": "identify", "userId": c.user_id, "traits": {}} for c in customers),
            {"type": "group", "userId": TRADE_CUSTOMER.user_id, "groupId": TRADE_ACCOUNT},
            _track("Order Completed", userId="12347", properties={"order_id": "o1", "revenue": 30}),
            # Visitors whose history the seeded experiences look for.
            *(_track("Paywall Viewed", anonymousId="reader-3") for _ in range(3)),
            *(_track("Paywall Viewed", anonymousId="reader-2") for _ in range(2)),
            _track(
                "Product Added",
                anonymousId="cart-left",
                timestamp=hours_ago,
                properties={"product_id": CAKESTAND, "price": 12.75, "quantity": 1},
            ),
            *(
                _track(
                    "Product Viewed",
                    anonymousId="garden-lover",
                    properties={"product_id": f"g{i}", "category": "Garden"},
                )
                for i in range(3)
            ),
        ]
    )
    products = [Product.model_validate(p) for p in catalog]
    seeded = seed_demo(services, keys.workspace.id, products)
    api.settle()
    yield Shop(api, keys, seeded)


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


def _track(event: str, **fields: Any) -> dict[str, Any]:
    return {"type": "track", "event": event, "properties": {}, **fields}


def test_every_seeded_placement_and_experience_saves(shop: Shop) -> None:
    shipped = seeded_experiences()
    assert shop.seeded.placements == len(shipped["placements"]) == 14
    assert shop.seeded.experiences == len(shipped["experiences"]) == 14
    placements = shop.api.get("/v1/placements")
    experiences = shop.api.get("/v1/experiences")
    assert {p["id"] for p in _items(placements, "placements")} == {
        p["id"] for p in shipped["placements"]
    }
    assert {e["id"] for e in _items(experiences, "experiences")} == {
        e["id"] for e in shipped["experiences"]
    }


def test_the_seeded_experiments_are_drafts_with_their_hypotheses(shop: Shop) -> None:
    assert shop.seeded.experiments == 2
    experiments = {e["id"]: e for e in shop.api.get("/v1/experiments")["experiments"]}
    for experiment_id in ("loyalty-offer-test", "for-you-strategy"):
        seeded = experiments[experiment_id]
        assert seeded["status"] == "draft"
        assert all(seeded["hypothesis"][part] for part in ("what", "who", "why"))


def test_a_started_seeded_experiment_keeps_its_state_when_the_demo_loads_again(
    services: Services,
) -> None:
    # A workspace of its own: the shop above is shared by this module's tests.
    workspace = services.workspaces.create("seeded-experiments").workspace.id
    products = [Product.model_validate(p) for p in demo_catalog()[:20]]
    assert seed_demo(services, workspace, products).experiments == 2
    services.experiments.start(workspace, "for-you-strategy")
    again = seed_demo(services, workspace, products)
    assert again.experiments == 1  # the draft saved again, the started one left alone
    assert services.experiments.get(workspace, "for-you-strategy").status == "running"
    assert services.experiments.get(workspace, "loyalty-offer-test").status == "draft"


def _items(answer: Any, key: str) -> list[dict[str, Any]]:
    return list(answer[key] if isinstance(answer, dict) else answer)


PAGES = {
    "/demo": ["home-hero", "landing-banner", "home-for-you", "gift-quiz", "self-select"],
    "/demo/category/kitchen": [],
    f"/demo/product/{CAKESTAND}": ["pdp-similar", "pdp-together"],
    "/demo/cart": ["cart-cross-sell"],
    "/demo/checkout": [],
    "/demo/journal": [],
    "/demo/article/tea-party": ["article-paywall"],
}
EVERY_PAGE = ["top-nav", "trade-bar", "email-signup", "exit-offer", "cart-reminder"]


@pytest.mark.parametrize("path", list(PAGES))
def test_every_page_loads_the_snippet_and_marks_the_seeded_placements(
    shop: Shop, path: str
) -> None:
    response = shop.page(path)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    # The demo workspace's browser key, read from its source (stored in clear: it is public).
    assert f'src="/relevo.js" data-write-key="{shop.keys.write_key}"' in html
    # The seeded placements' selectors name the slots the page marks.
    selectors = {p["id"]: p["selector"] for p in seeded_experiences()["placements"]}
    for placement in [*PAGES[path], *EVERY_PAGE]:
        assert selectors[placement] == f"#relevo-{placement}"
        assert f'id="relevo-{placement}" data-relevo-placement="{placement}"' in html, placement
    # The persona bar, on every page.
    for persona in ("/demo/persona/new", "/demo/persona/newsletter", "/demo/persona/trade"):
        assert f'href="{persona}"' in html
    assert f'href="/demo/persona/customer/{RETURNING_CUSTOMERS[0].user_id}"' in html


def test_the_product_page_marks_its_product_and_cart_button(shop: Shop) -> None:
    html = shop.page(f"/demo/product/{CAKESTAND}").text
    product = re.search(r"<section class=\"pdp\"([^>]*)>", html)
    assert product is not None
    attributes = dict(re.findall(r'(data-relevo-[a-z-]+)="([^"]*)"', product.group(1)))
    assert attributes == {
        "data-relevo-product": CAKESTAND,
        "data-relevo-name": "Regency cakestand 3 tier",
        "data-relevo-category": "Kitchen",
        "data-relevo-price": "12.75",
        "data-relevo-currency": "GBP",
    }
    assert 'id="add-to-cart" data-relevo-add-to-cart' in html
    # Cards name their product on their own button (not data-relevo-product: that would be
    # a product view of every card).
    assert html.count("data-relevo-product=") == 1


def test_unknown_pages_are_404_pages(shop: Shop) -> None:
    for path in ("/demo/product/NOPE", "/demo/category/nope", "/demo/article/nope"):
        response = shop.page(path)
        assert response.status_code == 404
        assert "There is no such page in the shop." in response.text
    assert shop.page("/demo/persona/customer/99999").status_code == 404


def test_the_cart_cookie_makes_the_cart_and_its_context(shop: Shop) -> None:
    cart = json.dumps({CAKESTAND: 2, "85123A": 1, "NOT-IN-CATALOG": 3})
    html = shop.page("/demo/cart", rlv_demo_cart=cart).text
    lines = re.findall(r'data-remove-from-cart="([^"]+)"', html)
    assert sorted(lines) == sorted([CAKESTAND, "85123A"])
    price = Product.model_validate(next(p for p in demo_catalog() if p["product_id"] == "85123A"))
    assert price.price is not None
    total = 2 * 12.75 + float(price.price)
    assert f"£{total:,.2f}" in html
    # The decisions' context: the cart's products on the page (data-relevo-cart).
    marked = re.search(r'data-relevo-cart="([^"]*)"', html)
    assert marked is not None
    products = json.loads(marked.group(1).replace("&#34;", '"').replace("&quot;", '"'))
    assert {"product_id": CAKESTAND, "price": 12.75, "quantity": 2} in products
    # A cookie that is not a cart is an empty one, never an error.
    for bad in ("{", "[1, 2]", json.dumps({CAKESTAND: "two"}), "%ff"):
        response = shop.page("/demo/cart", rlv_demo_cart=bad)
        assert response.status_code == 200 and "Your cart is empty" in response.text


def _between(html: str, start: str, end: str) -> str:
    found = re.search(re.escape(start) + r"(.*?)" + re.escape(end), html)
    assert found is not None, start
    return found.group(1)


def test_becoming_a_returning_customer_signs_them_in_with_an_identity_token(shop: Shop) -> None:
    who = RETURNING_CUSTOMERS[0]
    response = shop.page(f"/demo/persona/customer/{who.user_id}")
    assert response.status_code == 200
    html = response.text
    assert f"relevo.identify({json.dumps(who.user_id)}" in html
    token = json.loads(_between(html, "{ identityToken: ", " }"))
    proven = verify_identity_token(shop.keys.identity_secret, token, time.time())
    assert (proven.user_id, proven.failure) == (who.user_id, None)
    assert f"rlv_demo_persona=customer:{who.user_id}" in response.headers["set-cookie"]
    # The trade customer the same way; a new visitor only forgets this browser's visitor.
    trade = shop.page("/demo/persona/trade").text
    assert f"relevo.identify({json.dumps(TRADE_CUSTOMER.user_id)}" in trade
    new = shop.page("/demo/persona/new")
    assert "rlv_aid=; Max-Age=0" in new.text and "relevo.identify" not in new.text


def test_the_newsletter_persona_lands_with_utm_and_an_email_link_token(shop: Shop) -> None:
    html = shop.page("/demo/persona/newsletter").text
    landing = unquote(_between(html, 'data-then="', '"').replace("&amp;", "&"))
    query = parse_qs(urlsplit(landing).query)
    assert urlsplit(landing).path == "/demo"
    assert query["utm_source"] == ["newsletter"] and query["utm_medium"] == ["email"]
    link_secret = shop.api.services.workspaces.trust_keys(shop.keys.workspace.id).link_secret
    proof = verify_link_token(link_secret, query["rlv"][0], time.time())
    customer = shop.api.profile("user_id", RETURNING_CUSTOMERS[1].user_id)
    assert (proof.profile_id, proof.failure) == (customer["profile_id"], None)


def test_a_member_of_the_trade_account_sees_agreed_prices(shop: Shop) -> None:
    # The trade customer's browser: its anonymous id proven theirs (here by the shop's server).
    shop.api.send("identify", userId=TRADE_CUSTOMER.user_id, anonymousId="trade-browser")
    shop.api.settle()
    html = shop.page(f"/demo/product/{CAKESTAND}", rlv_aid="trade-browser").text
    assert "<s>£12.75</s>" in html and "£10.20 trade" in html
    assert "Trade account: you see your agreed prices." in html
    category = shop.page("/demo/category/kitchen", rlv_aid="trade-browser").text
    pairs = re.findall(r"<s>£([0-9.]+)</s> £([0-9.]+)", category)
    assert pairs and all(float(b) == pytest.approx(0.8 * float(a), abs=0.006) for a, b in pairs)
    # Anyone else: the list price.
    stranger = shop.page(f"/demo/product/{CAKESTAND}", rlv_aid="someone-else").text
    assert "£12.75" in stranger and "trade" not in _between(stranger, 'class="pdp-price">', "</p>")


def test_tiles_are_drawn_and_the_pages_are_not_in_the_api_schema(shop: Shop) -> None:
    tile = shop.page(f"/demo/tile/{CAKESTAND}.svg")
    assert tile.status_code == 200 and tile.headers["content-type"] == "image/svg+xml"
    assert ">RC</text>" in tile.text  # Regency Cakestand
    assert shop.page("/demo/static/shop.css").status_code == 200
    assert shop.page("/demo/static/nope.css").status_code == 404
    schema = shop.api.client.get("/openapi.json").json()
    assert not [path for path in schema["paths"] if path.startswith("/demo")]


def test_without_the_demo_workspace_the_pages_say_how_to_load_it(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path}/empty.db")
    services = Services.build(settings)
    upgrade(services.db)
    try:
        with TestClient(create_app(settings, services)) as empty:
            for path in ("/demo", "/demo/product/22423", "/demo/persona/customer/12347"):
                response = empty.get(path)
                assert response.status_code == 404
                assert (
                    "./scripts/demo" in response.text
                    and "text/html" in response.headers["content-type"]
                )
    finally:
        services.close()


def test_categories_come_from_the_title() -> None:
    assert category_of("PAPER CHAIN KIT 50'S CHRISTMAS ") == "Christmas"  # before Stationery
    assert category_of("WHITE HANGING HEART T-LIGHT HOLDER") == "Candles & Lights"
    assert category_of("JUMBO BAG RED RETROSPOT") == "Bags & Storage"
    assert category_of("REGENCY CAKESTAND 3 TIER") == "Kitchen"
    assert category_of("ASSORTED COLOUR BIRD ORNAMENT") == "Garden"
    assert category_of("SET OF 3 CAKE TINS PANTRY DESIGN") == "Kitchen"
    assert category_of("WOODEN FRAME ANTIQUE WHITE") == "Home Decor"  # nothing else matched
    assert all(by_slug(slug(c)) == c for c in CATEGORIES)
    assert slug("Candles & Lights") == "candles-and-lights"


HOME = {"page": {"url": "http://127.0.0.1:8000/demo", "path": "/demo"}}
SEEDS_DECIDE = [
    # (who, context, placement, the experience that fills it: None for the default)
    ({"anonymousId": "a-stranger"}, HOME, "home-hero", "first-order-offer"),
    ({"identity": {"kind": "user_id", "value": "12347"}}, HOME, "home-hero", "loyalty-offer"),
    (
        {"anonymousId": "a-stranger"},
        {**HOME, "campaign": {"source": "newsletter", "medium": "email"}},
        "landing-banner",
        "newsletter-landing",
    ),
    (
        {"anonymousId": "a-stranger"},
        {**HOME, "campaign": {"source": "google", "medium": "cpc"}},
        "landing-banner",
        "ppc-landing",
    ),
    ({"anonymousId": "a-stranger"}, HOME, "landing-banner", None),
    ({"anonymousId": "reader-3"}, HOME, "article-paywall", "paywall-nudge"),
    ({"anonymousId": "reader-2"}, HOME, "article-paywall", None),
    ({"anonymousId": "cart-left"}, HOME, "cart-reminder", "cart-reminder"),
    ({"anonymousId": "garden-lover"}, HOME, "top-nav", "nav-by-interest"),
    ({"anonymousId": "a-stranger"}, HOME, "top-nav", None),
    (
        {"identity": {"kind": "user_id", "value": TRADE_CUSTOMER.user_id}},
        HOME,
        "trade-bar",
        "trade-prices",
    ),
    ({"anonymousId": "a-stranger"}, HOME, "exit-offer", "exit-intent-offer"),
    ({"anonymousId": "a-stranger"}, HOME, "email-signup", "newsletter-signup"),
    ({"anonymousId": "a-stranger"}, HOME, "self-select", "who-are-you"),
    ({"anonymousId": "a-stranger"}, HOME, "gift-quiz", "gift-finder"),
]


@pytest.mark.parametrize(("who", "context", "placement", "expected"), SEEDS_DECIDE)
def test_each_seeded_experience_fills_its_placement_for_its_visitor(
    shop: Shop, who: dict[str, Any], context: dict[str, Any], placement: str, expected: str | None
) -> None:
    """The seeds, decided by the shop's server (secret key) for the visitors they are for."""
    response = shop.api.client.post(
        "/v1/decide",
        json={**who, "context": context, "placements": [placement]},
        headers=shop.api.secret_auth,
    )
    assert response.status_code == 200, response.text
    decided = response.json()["placements"][placement]
    filled = decided["experience"]["id"] if decided["experience"] else None
    assert filled == expected, decided
    if expected == "nav-by-interest":
        # The visitor's top category first, marked.
        assert decided["html"].startswith('<a href="/demo/category/garden" class="nav-top">')
    if expected == "exit-intent-offer":
        assert decided["trigger"] == {"type": "exit_intent"}
