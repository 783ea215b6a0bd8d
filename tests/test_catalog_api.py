"""The catalog API through HTTP on both backends: batch upsert with per-item rejects, pages,
idempotent deletes, workspace isolation, products learnt from events, the file import, and
stock changes reaching recommendations without retraining."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from rich.progress import Progress
from typer.testing import CliRunner

from relevo.cli.main import app
from relevo.cli.recs import train_workspace
from tests.conftest import Api


def _post(api: Api, path: str, body: Any) -> Any:
    return api.client.post(path, json=body, headers=api.secret_auth)


def test_batch_upsert_reports_bad_items_and_stores_the_rest(api: Api) -> None:
    response = _post(
        api,
        "/v1/catalog/products",
        {
            "products": [
                {
                    "product_id": "p1",
                    "title": "Oak chair",
                    "price": "120.50 EUR",
                    "category": "Home > Chairs",
                    "brand": "Woody",
                },
                {"title": "no id"},
                {"product_id": "p2", "price": -3},
                {"product_id": "p3", "availability": "sometimes"},
                {"product_id": "p4", "title": "Lamp", "availability": "out of stock"},
            ]
        },
    )
    assert response.status_code == 200
    body = response.json()
    assert body["stored"] == 2
    assert [r["index"] for r in body["rejected"]] == [1, 2, 3]
    assert "product_id" in body["rejected"][0]["reason"]
    assert "price" in body["rejected"][1]["reason"]
    chair = api.get("/v1/catalog/products/p1")
    assert chair["price"] == "120.50" and chair["currency"] == "EUR"
    assert chair["category"] == ["Home", "Chairs"] and chair["source"] == "catalog"

    _post(
        api, "/v1/catalog/products", {"products": [{"product_id": "p1", "title": "Oak chair II"}]}
    )
    assert api.get("/v1/catalog/products/p1")["title"] == "Oak chair II"  # replaced, not doubled
    assert api.get("/v1/catalog/products")["total"] == 2


def test_bad_requests_are_4xx_with_a_message(api: Api) -> None:
    assert _post(api, "/v1/catalog/products", {"products": "nope"}).status_code == 400
    assert _post(api, "/v1/catalog/products", [1, 2]).status_code == 400
    missing = api.client.get("/v1/catalog/products/none", headers=api.secret_auth)
    assert missing.status_code == 404 and "none" in missing.json()["error"]["message"]
    assert api.client.get("/v1/catalog/products").status_code == 401


def test_pages_deletes_and_isolation(api: Api, services: Any) -> None:
    products = [{"product_id": f"x{n:03d}", "title": f"thing {n}"} for n in range(25)]
    assert _post(api, "/v1/catalog/products", {"products": products}).json()["stored"] == 25
    seen, after = [], None
    while True:
        params = {"limit": 10, **({"after": after} if after else {})}
        page = api.get("/v1/catalog/products", **params)
        seen += [p["product_id"] for p in page["products"]]
        after = page["next_after"]
        if after is None:
            break
    assert seen == [p["product_id"] for p in products]

    gone = _post(api, "/v1/catalog/products/delete", {"product_ids": ["x000", "x001", "zz"]})
    assert gone.json() == {"deleted": 2}
    again = _post(api, "/v1/catalog/products/delete", {"product_ids": ["x000"]})
    assert again.json() == {"deleted": 0}
    assert api.client.get("/v1/catalog/products/x000", headers=api.secret_auth).status_code == 404

    other = Api(api.client, services, services.workspaces.create(f"other-{time.time_ns()}"))
    assert other.get("/v1/catalog/products")["total"] == 0
    assert (
        other.client.get("/v1/catalog/products/x002", headers=other.secret_auth).status_code == 404
    )


def test_products_seen_in_events_join_the_catalog_flagged(api: Api) -> None:
    _post(api, "/v1/catalog/products", {"products": [{"product_id": "known", "title": "Shop's"}]})
    api.batch(
        [
            {
                "type": "track",
                "anonymousId": "v1",
                "event": "Product Viewed",
                "properties": {
                    "product_id": "new-1",
                    "name": "Blue vase",
                    "price": 12.5,
                    "category": "Home/Vases",
                    "brand": "Glassy",
                },
            },
            {
                "type": "track",
                "anonymousId": "v1",
                "event": "Product Viewed",
                "properties": {"product_id": "known", "name": "Renamed by the page"},
            },
            {
                "type": "track",
                "anonymousId": "v1",
                "event": "Order Completed",
                "properties": {
                    "order_id": "o1",
                    "products": [{"product_id": "new-2", "price": "x"}],
                },
            },
        ]
    )
    api.settle()
    vase = api.get("/v1/catalog/products/new-1")
    assert vase["source"] == "events" and vase["title"] == "Blue vase" and vase["brand"] == "Glassy"
    assert api.get("/v1/catalog/products/new-2")["source"] == "events"  # the id alone
    known = api.get("/v1/catalog/products/known")
    assert known["source"] == "catalog" and known["title"] == "Shop's"  # never overwritten
    only_events = api.get("/v1/catalog/products", source="events")["products"]
    assert sorted(p["product_id"] for p in only_events) == ["new-1", "new-2"]


def test_out_of_stock_leaves_recommendations_without_retraining(api: Api) -> None:
    products = [{"product_id": p, "title": p} for p in ("sofa", "cushion", "throw", "mug")]
    _post(api, "/v1/catalog/products", {"products": products})
    api.batch(
        [
            {
                "type": "track",
                "userId": f"u{n}",
                "event": "Order Completed",
                "properties": {
                    "order_id": f"o{n}",
                    "products": [
                        {"product_id": "sofa"},
                        {"product_id": "cushion"},
                        {"product_id": "throw"},
                    ],
                },
            }
            for n in range(10)
        ]
    )
    api.settle()
    with Progress(disable=True) as progress:
        train_workspace(api.services, api.keys.workspace, progress)

    def together() -> list[str]:
        response = _post(
            api,
            "/v1/recommendations",
            {"strategy": "bought_together", "context": {"product_id": "sofa"}},
        )
        return [i["product_id"] for i in response.json()["items"]]

    assert "cushion" in together()
    _post(
        api,
        "/v1/catalog/products",
        {"products": [{"product_id": "cushion", "title": "cushion", "stock_quantity": 0}]},
    )
    deadline = time.monotonic() + 10
    while "cushion" in together():
        assert time.monotonic() < deadline, "out-of-stock product still recommended"
        time.sleep(0.05)
    assert "throw" in together()


def test_import_catalog_command(api: Api, tmp_path: Path) -> None:
    feed = tmp_path / "feed.tsv"
    feed.write_text(
        "id\ttitle\tprice\tavailability\n"
        "t1\tMug\t15.00 USD\tin stock\n"
        "t2\tBroken\tnot a price\tin stock\n"
        "t3\tPlate\t4 USD\tout of stock\n"
    )
    settings = api.services.settings
    env = {"RELEVO_DATABASE_URL": settings.database_url}
    if settings.database_schema:
        env["RELEVO_DATABASE_SCHEMA"] = settings.database_schema
    name = api.keys.workspace.name
    for _ in range(2):  # re-running replaces, never doubles
        result = CliRunner().invoke(
            app, ["import", "catalog", str(feed), "--workspace", name], env=env
        )
        assert result.exit_code == 1, result.output  # a rejected row is a non-zero exit
        assert "2 products stored, 1 rejected" in result.output
        assert "row 3 (t2)" in result.output
    assert api.get("/v1/catalog/products")["total"] == 2
    assert (
        json.loads(json.dumps(api.get("/v1/catalog/products/t3")))["availability"] == "out_of_stock"
    )
