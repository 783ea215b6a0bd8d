"""The snippet's decisions in a real browser: Debian's headless Chromium, driven by Playwright,
opens a shop page (another origin) with two placements and an exit-intent overlay, which asks a
real `relevo serve` for its decisions (POST /v1/decide) and reports what the visitor saw and did
(POST /v1/decide/events). Each test runs on SQLite and PostgreSQL. Screenshots go to
/tmp/shots/."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from relevo.settings import Settings
from tests.browser import BROWSER_TESTS, CHROMIUM, sync_api
from tests.databases import drop_schema, make_settings
from tests.real_server import RealServer, create_workspace
from tests.test_snippet_browser import _cli, _shop, _wait_for

pytestmark = BROWSER_TESTS
SHOTS = Path("/tmp/shots")

# The snippet in the head (no flicker: the placements are hidden before they are parsed), loaded
# by hand for the overlay's placement, which has no element in the page.
SHOP_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Candle shop</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<script src="{relevo}/relevo.js"></script>
<script>
  // A loaded test machine's first decision may take longer than the 500 ms a shop would give.
  const timeout = Number(new URLSearchParams(location.search).get('timeout') || 10000);
  relevo.load('{write_key}', {host: '{relevo}', placements: ['exit-offer'],
                              decideTimeout: timeout});
</script>
<style>
  body {font: 16px/1.5 sans-serif; margin: 0 auto; max-width: 760px; padding: 24px}
  .hero {background: #f6efe6; padding: 16px 24px; min-height: 120px}
</style>
</head><body>
<h1 id="title">Candle shop</h1>
<div id="hero" class="hero" data-relevo-placement="home-hero">
  <h2>Candles for every room</h2><p id="hero-default">Our default welcome.</p>
</div>
<p id="intro">Hand-poured candles, holders and lanterns.</p>
<div style="height: 1600px"></div>
<section id="similar" data-relevo-placement="pdp-similar">
  <h2>Our bestsellers</h2><p id="similar-default">The default picks.</p>
</section>
<div style="height: 300px"></div>
</body></html>
"""

# Run before any script of the page: what the snippet sends, the decide answers it got, and the
# placements' and the page's visibility from the moment they are parsed until they are filled.
WATCH_PAGE = """
window.sentToRelevo = [];
window.decideAnswers = 0;
const originalFetch = window.fetch;
window.fetch = function (url, init) {
  window.sentToRelevo.push({url: String(url), body: init && init.body});
  const answer = originalFetch.apply(this, arguments);
  if (String(url).endsWith('/v1/decide')) {
    answer.then((r) => r.clone().text()).then((text) => {
      window.decideAnswers++;
      window.decideAnswer = text;
    });
  }
  return answer;
};
window.seen = {hero: [], title: [], intro: []};
const look = () => {
  for (const id of Object.keys(window.seen)) {
    const el = document.getElementById(id);
    if (el) window.seen[id].push(getComputedStyle(el).visibility);
  }
};
new MutationObserver(look).observe(document, {childList: true, subtree: true});
const frames = () => {
  look();
  if (!document.querySelector('#hero .relevo-slot')) requestAnimationFrame(frames);
};
requestAnimationFrame(frames);
"""

PRODUCTS = [
    {"product_id": "t-light", "title": "Heart T-light holder", "price": "2.55 GBP",
     "sale_price": "1.99 GBP", "url": "/products/t-light", "category": "Candles"},
    {"product_id": "cakestand", "title": "Regency cakestand", "price": "12.75 GBP",
     "url": "/products/cakestand", "category": "Kitchen"},
    {"product_id": "lantern", "title": "Moroccan lantern", "price": "8.00 GBP",
     "url": "/products/lantern", "category": "Candles"},
]  # fmt: skip
PLACEMENTS = [
    {"id": "home-hero", "kind": "banner", "selector": "#hero"},
    {"id": "pdp-similar", "kind": "recommendations", "selector": "#similar",
     "recommendations": {"strategy": "trending", "count": 3}},
    {"id": "exit-offer", "kind": "overlay"},
]  # fmt: skip
EXPERIENCES = [
    {"id": "welcome", "name": "Welcome", "placement": "home-hero", "label": "Picked for you",
     "variants": [{"id": "a", "content": {"text": "10% off candles this week."},
                   "template": "<h2 id='hero-filled'>Welcome, {{ profile.first_name or 'friend' }}"
                               "</h2><p>{{ content.text }}</p>"}]},
    {"id": "picks", "name": "Picks", "placement": "pdp-similar",
     "variants": [{"id": "a", "template": "<h2 id='similar-filled'>Picked for you</h2>",
                   "recommendations": {"strategy": "trending", "count": 3}}]},
    {"id": "before-you-go", "name": "Before you go", "placement": "exit-offer",
     "trigger": {"type": "exit_intent"},
     "variants": [{"id": "a", "content": {"headline": "Before you go"},
                   "template": "<h2>Before you go</h2><p>Free delivery today.</p>",
                   "interactive": {"kind": "email_capture", "prompt": "Our newsletter",
                                   "consent": "newsletter"}}]},
]  # fmt: skip


@pytest.fixture
def settings(backend: str, tmp_path: Path) -> Iterator[Settings]:
    settings = make_settings(backend, str(tmp_path))
    # The server picks up the trending model `relevo train` writes within a tenth of a second.
    changes = {"models_dir": str(tmp_path / "models"), "models_check_seconds": 0.1}
    settings = settings.model_copy(update=changes)
    settings.model_fields_set.update(changes)
    yield settings
    drop_schema(settings)


def _orders() -> list[dict[str, Any]]:
    """Some orders of the three products, for a trending model."""
    now = datetime.now(UTC)
    return [
        {
            "type": "track",
            "event": "Order Completed",
            "userId": f"buyer-{n}",
            "timestamp": (now - timedelta(hours=n)).isoformat(),
            "properties": {
                "order_id": f"order-{n}",
                "products": [{"product_id": p["product_id"]} for p in PRODUCTS[: 1 + n % 3]],
            },
        }
        for n in range(12)
    ]


class Shop:
    """A workspace with the placements and experiences above, a real server, the shop page."""

    def __init__(self, settings: Settings, server: RealServer, keys: dict[str, str]) -> None:
        self.settings = settings
        self.server = server
        self.keys = keys
        self.secret = httpx.Client(
            base_url=server.url,
            headers={"Authorization": f"Bearer {keys['secret_key']}"},
            timeout=10,
        )

    def post(self, path: str, body: Any) -> Any:
        response = self.secret.post(path, json=body)
        assert response.status_code in (200, 201), f"{path}: {response.text}"
        return response.json()

    def timeline(self, anonymous_id: str) -> list[dict[str, Any]]:
        response = self.secret.get(
            f"/v1/profiles/anonymous_id/{anonymous_id}/events", params={"limit": 100}
        )
        if response.status_code == 404:
            return []
        assert response.status_code == 200, response.text
        return list(response.json()["events"])

    def named(self, anonymous_id: str, name: str) -> list[dict[str, Any]]:
        return [e for e in self.timeline(anonymous_id) if e.get("event") == name]


@pytest.fixture
def shop(settings: Settings) -> Iterator[tuple[Shop, str]]:
    keys = create_workspace(settings, "decide-shop")
    server = RealServer(settings, workers=1)
    relevo = Shop(settings, server, keys)
    try:
        relevo.post("/v1/catalog/products", {"products": PRODUCTS})
        ordered = httpx.post(
            f"{server.url}/v1/batch",
            json={"batch": _orders()},
            auth=(keys["server_write_key"], ""),
        )
        assert ordered.status_code == 200, ordered.text
        _cli(settings, "train", "--workspace", "decide-shop")
        for placement in PLACEMENTS:
            relevo.post("/v1/placements", placement)
        for experience in EXPERIENCES:
            relevo.post("/v1/experiences", experience)
        page = SHOP_PAGE.replace("{relevo}", server.url).replace("{write_key}", keys["write_key"])
        with _shop(page) as url:
            _cli(settings, "source", "origins", "decide-shop", "browser", "--origin", url)
            # The page's origin allowed (the keys' cache follows within a second) and the
            # trending model loaded: the decisions the page will get.
            _wait_for(lambda: _ready(server.url, keys["write_key"], url), "the shop's decisions")
            yield relevo, url
    finally:
        relevo.secret.close()
        server.stop()


def _ready(relevo: str, write_key: str, origin: str) -> bool:
    body = {"writeKey": write_key, "anonymousId": "probe", "placements": ["pdp-similar"]}
    response = httpx.post(
        f"{relevo}/v1/decide", content=json.dumps(body), headers={"Origin": origin}
    )
    if response.status_code != 200:
        return False
    similar = response.json()["placements"]["pdp-similar"]
    return bool(similar["recommendations"] and similar["recommendations"]["items"])


def _sent_events(tab: Any) -> list[dict[str, Any]]:
    """The decision events the page sent by fetch (beacons are not seen)."""
    sent = tab.evaluate("window.sentToRelevo")
    return [
        event
        for request in sent
        if request["url"].endswith("/v1/decide/events")
        for event in json.loads(request["body"])["events"]
    ]


@pytest.fixture
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


def _open(browser: Any, url: str) -> tuple[Any, list[str]]:
    tab = browser.new_context(viewport={"width": 1000, "height": 700}).new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    tab.add_init_script(WATCH_PAGE)
    return tab, errors


def test_placements_are_filled_the_overlay_shows_on_exit_intent_and_what_was_seen_is_recorded(
    shop: tuple[Shop, str], browser: Any, backend: str
) -> None:
    relevo, url = shop
    SHOTS.mkdir(exist_ok=True)
    tab, errors = _open(browser, url)
    tab.goto(f"{url}/")
    tab.wait_for_function("window.decideAnswers === 1")
    answer = tab.evaluate("window.decideAnswer")
    assert tab.locator("#hero .relevo-slot").count() == 1, answer
    anonymous_id = tab.evaluate("relevo.anonymousId()")
    seen = tab.evaluate("window.seen")
    # The slot was hidden from the moment it was parsed until it was filled; the rest never.
    assert seen["hero"][0] == "hidden" and seen["hero"][-1] == "visible", seen["hero"]
    assert set(seen["title"]) == {"visible"} and set(seen["intro"]) == {"visible"}
    assert tab.locator("#hero-default").count() == 0
    assert tab.inner_text("#hero-filled") == "Welcome, friend"
    assert tab.inner_text("#hero .relevo-label") == "Picked for you"
    assert tab.evaluate("getComputedStyle(document.getElementById('similar')).visibility") == (
        "visible"
    )
    # The recommendations: cards with the product's id, price and sale price, and links.
    cards = tab.locator("#similar .relevo-card")
    assert cards.count() == 3, answer
    ids = [cards.nth(i).get_attribute("data-relevo-product") for i in range(3)]
    assert sorted(ids) == ["cakestand", "lantern", "t-light"]
    sale = tab.locator('#similar [data-relevo-product="t-light"] .relevo-price')
    assert sale.inner_text() == "£2.55£1.99" and sale.locator("s").inner_text() == "£2.55"
    tab.screenshot(path=str(SHOTS / f"decide-{backend}-top.png"))

    # The hero is in view: its impression is sent; the recommendations, far below, not yet.
    hero_impressions = _wait_for(
        lambda: [e for e in _sent_events(tab) if e["type"] == "impression"], "the hero's impression"
    )
    assert len(hero_impressions) == 1
    stored = _wait_for(
        lambda: relevo.named(anonymous_id, "Experience Impression"), "the stored impression"
    )
    assert [e["message"]["properties"]["placement"] for e in stored] == ["home-hero"]

    # Exit intent: the mouse leaves through the top of the window.
    assert tab.locator(".relevo-modal").count() == 0
    tab.mouse.move(500, 300)
    tab.mouse.move(500, 2)
    tab.mouse.move(500, -20)
    modal = tab.wait_for_selector(".relevo-modal")
    assert modal.get_attribute("role") == "dialog"
    assert tab.evaluate("document.activeElement.name") == "email"  # focus in the dialog
    tab.screenshot(path=str(SHOTS / f"decide-{backend}-overlay.png"))
    # The e-mail capture: the server keeps the address as a claim, with the consent.
    tab.fill(".relevo-modal input[name=email]", "ann@example.com")
    tab.check(".relevo-modal input[name=consent]")
    tab.click(".relevo-modal button[type=submit]")
    assert tab.inner_text(".relevo-modal .relevo-thanks") == "Thank you!"
    tab.keyboard.press("Escape")
    assert tab.locator(".relevo-modal").count() == 0
    assert tab.evaluate("document.activeElement === document.body")  # focus given back
    # Once per page.
    tab.mouse.move(500, 300)
    tab.mouse.move(500, -20)
    assert tab.locator(".relevo-modal").count() == 0
    _wait_for(lambda: relevo.named(anonymous_id, "Experience Dismissed"), "the dismissal")
    _wait_for(lambda: relevo.named(anonymous_id, "Experience Submitted"), "the e-mail capture")
    profile = relevo.secret.get(f"/v1/profiles/anonymous_id/{anonymous_id}").json()
    claimed = [(i["kind"], i["value"]) for i in profile["claimed_identities"]]
    assert claimed == [("email", "ann@example.com")], profile

    # Scrolled to the recommendations: now their impression, then a click on a card.
    tab.evaluate("document.getElementById('similar').scrollIntoView()")
    impressions = _wait_for(
        lambda: len(found := relevo.named(anonymous_id, "Experience Impression")) == 2 and found,
        "the recommendations' impression",
    )
    placements = sorted(e["message"]["properties"]["placement"] for e in impressions)
    assert placements == ["home-hero", "pdp-similar"]
    tab.screenshot(path=str(SHOTS / f"decide-{backend}-recommendations.png"))
    tab.click('#similar [data-relevo-product="lantern"]')
    tab.wait_for_url(f"{url}/products/lantern")
    clicked = _wait_for(lambda: relevo.named(anonymous_id, "Experience Clicked"), "the click")
    assert clicked[0]["message"]["properties"]["placement"] == "pdp-similar"
    # Leaving the page sent its engaged time.
    engaged = _wait_for(lambda: relevo.named(anonymous_id, "Page Engaged"), "the engaged time")
    assert engaged[0]["message"]["properties"]["seconds"] >= 1
    assert engaged[0]["message"]["context"]["page"]["path"] == "/"
    assert errors == []


def test_a_slow_decision_leaves_the_defaults(
    shop: tuple[Shop, str], browser: Any, backend: str
) -> None:
    relevo, url = shop
    tab, errors = _open(browser, url)

    def slow(route: Any) -> None:
        time.sleep(1.5)  # the page waits 500 ms
        route.continue_()

    tab.route(f"{relevo.server.url}/v1/decide", slow)
    tab.goto(f"{url}/?timeout=500")
    tab.wait_for_function("window.decideAnswers === 1")
    seen = tab.evaluate("window.seen")
    assert seen["hero"][0] == "hidden" and set(seen["title"]) == {"visible"}
    # The answer came, too late: the defaults stay, shown, and nothing is armed.
    assert tab.inner_text("#hero-default") == "Our default welcome."
    assert tab.inner_text("#similar-default") == "The default picks."
    assert tab.locator(".relevo-slot").count() == 0
    visibility = "getComputedStyle(document.getElementById('hero')).visibility"
    assert tab.evaluate(visibility) == "visible"
    tab.mouse.move(500, 300)
    tab.mouse.move(500, -20)
    assert tab.locator(".relevo-modal").count() == 0
    tab.screenshot(path=str(SHOTS / f"decide-{backend}-slow.png"))
    assert errors == []


def test_on_a_touch_screen_the_back_gesture_is_the_exit_intent(
    shop: tuple[Shop, str], browser: Any, backend: str
) -> None:
    _, url = shop
    phone = browser.new_context(
        viewport={"width": 390, "height": 760}, is_mobile=True, has_touch=True
    )
    tab = phone.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    tab.add_init_script(WATCH_PAGE)
    tab.goto(f"{url}/")
    tab.wait_for_function("window.decideAnswers === 1")
    tab.wait_for_selector("#hero .relevo-slot")
    assert tab.locator(".relevo-modal").count() == 0
    # Back: the entry the snippet added is left, the page stays, and the overlay shows.
    tab.go_back(wait_until="commit")
    tab.wait_for_selector(".relevo-modal")
    assert tab.url == f"{url}/"
    tab.screenshot(path=str(SHOTS / f"decide-{backend}-phone-overlay.png"))
    tab.tap(".relevo-close")
    assert tab.locator(".relevo-modal").count() == 0
    assert errors == []
