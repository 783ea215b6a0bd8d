"""The demo shop: the shipped UCI Online Retail copy converts to the right Segment messages."""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

import pytest

from relevo.demo.uci_retail import DATA_PATH, demo_messages, group_invoices, is_product, read_lines
from relevo.identity.identities import USER_ID
from relevo.services import Services
from relevo.settings import Settings
from relevo.storage.migrate import upgrade

SOURCE = (
    Path(__file__).resolve().parents[2]
    / "shared"
    / "data"
    / "uci-online-retail"
    / "online_retail.csv.gz"
)


@pytest.fixture(scope="module")
def messages() -> list[dict[str, object]]:
    return demo_messages()


def test_every_customer_is_identified_once(messages: list[dict[str, object]]) -> None:
    identifies = [m for m in messages if m["type"] == "identify"]
    assert len(identifies) == len({m["userId"] for m in identifies}) == 4372


def test_message_ids_are_unique(messages: list[dict[str, object]]) -> None:
    assert len({m["messageId"] for m in messages}) == len(messages)


@pytest.mark.skipif(
    not SOURCE.exists(), reason="../shared/data/uci-online-retail is not beside the repo"
)
def test_shipped_copy_holds_every_customer_line_of_the_source() -> None:
    with gzip.open(SOURCE, "rt", encoding="utf-8", newline="") as handle:
        source = [r for r in csv.DictReader(handle) if r["CustomerID"].strip()]
    invoices = group_invoices(read_lines(DATA_PATH))
    assert sum(len(i.lines) for i in invoices) == len(source) == 406_829
    assert len(invoices) == len({r["InvoiceNo"] for r in source})


def test_a_known_invoice_converts_exactly(messages: list[dict[str, object]]) -> None:
    # Invoice 536365, the first line of the data set: customer 17850, 7 lines, £139.12.
    order = next(m for m in messages if m["messageId"] == "uci-invoice-536365")
    assert order["event"] == "Order Completed" and order["userId"] == "17850"
    assert order["timestamp"] == "2010-12-01T08:26:00Z"
    properties = order["properties"]
    assert isinstance(properties, dict)
    assert properties["revenue"] == 139.12 and properties["currency"] == "GBP"
    assert properties["products"][0] == {
        "product_id": "85123A",
        "sku": "85123A",
        "name": "WHITE HANGING HEART T-LIGHT HOLDER",
        "price": 2.55,
        "quantity": 6,
    }
    assert len(properties["products"]) == 7


def test_cancellations_are_refunds_and_fees_are_not_products(
    messages: list[dict[str, object]],
) -> None:
    refunds = [m for m in messages if m.get("event") == "Order Refunded"]
    assert refunds and all(str(m["messageId"]).startswith("uci-invoice-C") for m in refunds)
    for message in messages:
        properties = message.get("properties")
        if isinstance(properties, dict):
            assert all(is_product(p["product_id"]) for p in properties["products"])
            assert all(p["quantity"] > 0 for p in properties["products"])


def test_demo_loads_into_profiles(tmp_path: Path) -> None:
    from rich.progress import Progress

    from relevo.demo.loader import load_demo

    services = Services.build(Settings(database_url=f"sqlite:///{tmp_path}/demo.db"))
    upgrade(services.db)
    try:
        keys = load_demo(services, lambda: Progress(disable=True))
        person = services.people.find(keys.workspace.id, (USER_ID, "12347"))
        assert person is not None
        # Customer 12347 (Iceland): 7 orders worth £4,310.00, a figure RFM tutorials quote.
        assert person.computed["orders"] == 7 and person.computed["revenue"] == 4310.0
        assert person.traits == {"customer_id": "12347", "country": "Iceland"}
        # The catalog: every product code with a price, from the shop, not learnt from events.
        cakestand = services.catalog.get(keys.workspace.id, "22423")
        assert cakestand is not None
        assert cakestand["title"] == "REGENCY CAKESTAND 3 TIER"
        assert (cakestand["price"], cakestand["currency"]) == ("12.75", "GBP")
        assert cakestand["source"] == "catalog"
        assert services.catalog.count(keys.workspace.id) == len(
            {line.stock_code for line in read_lines() if is_product(line.stock_code)}
        )
        again = load_demo(services, lambda: Progress(disable=True))  # idempotent re-run
        assert services.people.find(again.workspace.id, (USER_ID, "12347")).computed["orders"] == 7  # type: ignore[union-attr]
    finally:
        services.close()
