"""Product cards cached per process (relevo.catalog.card_cache), over the real catalog store on
both backends: the whole catalog is read in the background when first asked for, a product
changed or deleted by anyone is seen within the check interval, and an unknown one is left
out until it is added."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

from relevo.catalog.card_cache import CardCache
from relevo.catalog.product import Product
from tests.conftest import Api


def _upsert(api: Api, products: Sequence[Mapping[str, object]], seconds_ago: float = 0) -> None:
    now_ms = int((time.time() - seconds_ago) * 1000)
    api.services.catalog.upsert(
        api.keys.workspace.id, [Product.model_validate(p) for p in products], now_ms
    )


def _until(check: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check() and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.01)
    assert check()  # type: ignore[operator]


def test_cards_are_preloaded_and_follow_the_catalog(api: Api) -> None:
    products = [
        {"product_id": f"p{n}", "title": f"Product {n}", "price": "5.00"} for n in range(12)
    ]
    # A minute ago: products changed within seconds of the background read are left to be
    # read when asked for (the read may have seen them before the change).
    _upsert(api, products, seconds_ago=60)
    workspace = api.keys.workspace.id
    cache = CardCache(api.services.catalog, check_seconds=0.05)
    assert cache.cards(workspace, ["p1", "nope"]) == {
        "p1": api.services.catalog.cards(workspace, ["p1"])["p1"]
    }
    cached = cache._workspaces[workspace].cards
    _until(lambda: len([p for p in cached if p.startswith("p")]) >= 12)  # read in the background
    _upsert(api, [{**products[3], "price": "7.50"}, {"product_id": "nope", "title": "New"}])
    _until(lambda: cache.cards(workspace, ["p3"])["p3"]["price"] == "7.50")
    assert cache.cards(workspace, ["nope"])["nope"]["title"] == "New"
    api.services.catalog.delete(workspace, ["p4"], int(time.time() * 1000))
    _until(lambda: "p4" not in cache.cards(workspace, ["p4", "p5"]))
    assert set(cache.cards(workspace, ["p4", "p5"])) == {"p5"}
