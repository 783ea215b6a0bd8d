"""The snippet in a real browser: Debian's headless Chromium, driven by Playwright, opens a
small shop served from another origin than Relevo (a second local HTTP server), which loads
/relevo.js from a real `relevo serve`. Each test runs on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import contextlib
import http.server
import json
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from relevo.identity.proofs import identity_token
from relevo.settings import Settings
from tests.browser import BROWSER_TESTS, CHROMIUM, sync_api
from tests.databases import drop_schema, make_settings
from tests.real_server import RELEVO, RealServer, create_workspace, environment, free_port

pytestmark = BROWSER_TESTS

PRODUCT_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Heart T-light holder - Candle shop</title>
<script>
  // Pushed before the snippet loads: it replays what it finds.
  window.dataLayer = window.dataLayer || [];
  dataLayer.push({event: 'view_item', ecommerce: {currency: 'GBP', value: 2.55, items: [
    {item_id: '85123A', item_name: 'Heart T-light holder', item_category: 'Home',
     item_category2: 'Candles', price: 2.55}]}});
</script>
<script async src="{relevo}/relevo.js" data-write-key="{write_key}"></script>
<style>body {font: 16px sans-serif; margin: 40px} button {padding: 8px 16px}</style>
</head><body>
<h1>Heart T-light holder</h1>
<section data-relevo-product="22423" data-relevo-price="12.75"
  data-relevo-category="Home/Cake stands" data-relevo-brand="Regency"
  data-relevo-name="Regency cakestand">
  <h2>Also here: Regency cakestand, 12.75</h2>
  <button id="add" data-relevo-add-to-cart>Add to cart</button>
</section>
</body></html>
"""


# Run in the page before any script: records what the snippet sends, and what it is answered.
RECORD_FETCH = """
window.sentToRelevo = [];
window.relevoAnswers = [];
const originalFetch = window.fetch;
window.fetch = function (url, init) {
  window.sentToRelevo.push({url: String(url), headers: init.headers, body: init.body,
                            credentials: init.credentials});
  return originalFetch.apply(this, arguments).then((response) => {
    window.relevoAnswers.push(response.status);
    return response;
  });
};
"""


class _Shop(http.server.ThreadingHTTPServer):
    page = ""


class _ShopHandler(http.server.BaseHTTPRequestHandler):
    server: _Shop

    def do_GET(self) -> None:
        body = self.server.page.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def _shop(page: str) -> Iterator[str]:
    server = _Shop(("127.0.0.1", free_port()), _ShopHandler)
    server.page = page
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        # localhost, not 127.0.0.1 like Relevo: another origin by its host too.
        yield f"http://localhost:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def settings(backend: str, tmp_path: Path) -> Iterator[Settings]:
    settings = make_settings(backend, str(tmp_path))
    yield settings
    drop_schema(settings)


def _cli(settings: Settings, *args: str) -> None:
    subprocess.run([RELEVO, *args], env=environment(settings), check=True, capture_output=True)


def _wait_for(check: Callable[[], Any], what: str, timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _events(http: httpx.Client, kind: str, value: str) -> list[dict[str, Any]]:
    """The events the snippet sent (not those Relevo records itself, like Audience Entered)."""
    response = http.get(f"/v1/profiles/{kind}/{value}/events", params={"limit": 100})
    if response.status_code == 404:
        return []
    assert response.status_code == 200, response.text
    return [
        e
        for e in response.json()["events"]
        if e["message"].get("context", {}).get("library", {}).get("name") == "relevo.js"
    ]


def _name(event: dict[str, Any]) -> str:
    return str(event["event"] or event["type"])


def _names(events: list[dict[str, Any]]) -> list[str]:
    return sorted(_name(e) for e in events)


def test_a_shop_page_on_another_origin_tracks_its_visitor(
    settings: Settings, tmp_path: Path
) -> None:
    keys = create_workspace(settings, "browser-shop")
    server = RealServer(settings, workers=1)
    secret = httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {keys['secret_key']}"}, timeout=10
    )
    basic = base64.b64encode(f"{keys['server_write_key']}:".encode()).decode()
    try:
        # A customer the shop knows, to whom it e-mailed a link.
        identified = httpx.post(
            f"{server.url}/v1/identify",
            json={"userId": "u-1", "traits": {"email": "ann@example.com"}},
            headers={"Authorization": f"Basic {basic}"},
        )
        assert identified.status_code == 200, identified.text
        links = secret.post(
            "/v1/identity-links", json={"identity": {"kind": "user_id", "value": "u-1"}}
        )
        assert links.status_code == 200, links.text
        token = links.json()["links"][0]["token"]
        page = PRODUCT_PAGE.replace("{relevo}", server.url).replace(
            "{write_key}", keys["write_key"]
        )
        with _shop(page) as shop:
            _cli(settings, "source", "origins", "browser-shop", "browser", "--origin", shop)
            time.sleep(0.6)  # the server's cache of the keys follows within a second
            with sync_api.sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=CHROMIUM, args=["--no-sandbox"]
                )
                try:
                    context = browser.new_context()
                    tab = context.new_page()
                    errors: list[str] = []
                    tab.on("pageerror", lambda error: errors.append(str(error)))
                    # What the snippet asks fetch for, recorded in the page.
                    tab.add_init_script(RECORD_FETCH)
                    tab.goto(f"{shop}/product.html")
                    tab.wait_for_function("window.relevo && window.relevo.anonymousId()")
                    anonymous_id = tab.evaluate("relevo.anonymousId()")
                    # After the snippet loaded: the wrapped dataLayer.push.
                    tab.evaluate(
                        "dataLayer.push({event: 'add_to_cart', ecommerce: {currency: 'GBP', "
                        "items: [{item_id: '85123A', price: 2.55, quantity: 2}]}})"
                    )
                    tab.click("#add")
                    expected = [
                        "Product Added",
                        "Product Added",
                        "Product Viewed",
                        "Product Viewed",
                        "page",
                    ]
                    try:
                        events = _wait_for(
                            lambda: (
                                (found := _events(secret, "anonymous_id", anonymous_id))
                                and _names(found) == expected
                                and found
                            ),
                            "the page's events",
                        )
                    except AssertionError as error:
                        found = _events(secret, "anonymous_id", anonymous_id)
                        answers = tab.evaluate("window.relevoAnswers")
                        raise AssertionError(
                            f"{error}: stored {_names(found)}, answers {answers}"
                        ) from None
                    tab.screenshot(path=str(tmp_path / "shop-product.png"), full_page=True)
                    by_event = {
                        (_name(e), e["message"].get("properties", {}).get("product_id")): e[
                            "message"
                        ]
                        for e in events
                    }
                    viewed = by_event[("Product Viewed", "22423")]["properties"]
                    assert viewed["category"] == "Home/Cake stands" and viewed["price"] == 12.75
                    ga4 = by_event[("Product Viewed", "85123A")]["properties"]
                    assert ga4["category"] == "Home/Candles" and ga4["currency"] == "GBP"
                    assert by_event[("Product Added", "22423")]["properties"]["quantity"] == 1
                    assert by_event[("Product Added", "85123A")]["properties"]["quantity"] == 2
                    page_view = by_event[("page", None)]
                    assert page_view["context"]["page"]["url"] == f"{shop}/product.html"
                    assert page_view["context"]["library"]["name"] == "relevo.js"
                    cookies = {c["name"]: c for c in context.cookies(shop)}
                    assert cookies["rlv_aid"]["value"] == anonymous_id
                    assert cookies["rlv_aid"]["sameSite"] == "Lax"
                    assert cookies["rlv_aid"]["expires"] > time.time() + 300 * 86_400

                    # The next visit, from the e-mail link: the same visitor, now known.
                    tab.goto(f"{shop}/product.html?utm_source=newsletter&rlv={token}")
                    tab.wait_for_function("window.relevo && window.relevo.anonymousId()")
                    assert tab.evaluate("relevo.anonymousId()") == anonymous_id
                    assert "rlv=" not in tab.url and "utm_source=newsletter" in tab.url
                    clicked = _wait_for(
                        lambda: [
                            e
                            for e in _events(secret, "user_id", "u-1")
                            if e.get("event") == "Email Link Clicked"
                        ],
                        "the e-mail link's click",
                    )
                    assert "rlv=" not in clicked[0]["message"]["properties"]["url"]
                    # Both visits, now in the customer's profile.
                    pages = _wait_for(
                        lambda: (
                            len(
                                found := [
                                    e
                                    for e in _events(secret, "user_id", "u-1")
                                    if e["type"] == "page"
                                ]
                            )
                            == 2
                            and found
                        ),
                        "the linked visitor's page views",
                    )
                    assert any(
                        p["message"]["context"].get("campaign") == {"source": "newsletter"}
                        for p in pages
                    )

                    # Another device: identify with the token the shop's backend signed.
                    signed = identity_token(keys["identity_secret"], "u-1")
                    other = browser.new_context().new_page()
                    other.on("pageerror", lambda error: errors.append(str(error)))
                    other.goto(f"{shop}/product.html")
                    other.wait_for_function("window.relevo && window.relevo.anonymousId()")
                    device = other.evaluate("relevo.anonymousId()")
                    assert device != anonymous_id
                    other.evaluate(
                        "token => relevo.identify('u-1', {plan: 'pro'}, {identityToken: token})",
                        signed,
                    )
                    profile = _wait_for(
                        lambda: (
                            (found := secret.get(f"/v1/profiles/anonymous_id/{device}")).status_code
                            == 200
                            and {"kind": "user_id", "value": "u-1"}
                            in [
                                {"kind": i["kind"], "value": i["value"]}
                                for i in found.json()["identities"]
                            ]
                            and found.json()
                        ),
                        "the proven identify to join the two devices",
                    )
                    assert anonymous_id in [i["value"] for i in profile["identities"]]
                    # What the identified device sends next goes by its anonymous id, which
                    # the proven identify linked: it lands with the customer, claiming nothing.
                    other.evaluate("relevo.track('Wishlist Viewed', {})")
                    _wait_for(
                        lambda: any(
                            e["message"].get("event") == "Wishlist Viewed"
                            for e in _events(secret, "user_id", "u-1")
                        ),
                        "the identified device's next event, in the customer's profile",
                    )
                    profile = secret.get(f"/v1/profiles/anonymous_id/{device}").json()
                    assert profile["claimed_identities"] == []
                    assert errors == []
                    # The key in a text/plain body, no other header: simple requests, which need
                    # no CORS preflight.
                    sent = tab.evaluate("window.sentToRelevo")
                    assert sent and all(r["url"] == f"{server.url}/v1/batch" for r in sent)
                    for request in sent:
                        assert request["headers"] == {"Content-Type": "text/plain"}
                        assert request["credentials"] == "omit"
                        assert json.loads(request["body"])["writeKey"] == keys["write_key"]
                finally:
                    browser.close()
    finally:
        secret.close()
        server.stop()
