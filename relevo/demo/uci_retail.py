"""The UCI Online Retail invoices as Segment messages: one ``identify`` per customer, one
``Order Completed`` per invoice and one ``Order Refunded`` per cancellation (``C`` invoices).

Postage, fees and manual adjustments (non-product stock codes) count in an order's revenue but
are not products. The source's times are UK local time; they are read as UTC (at most one hour
off in summer), which is good enough for a demo.
"""

from __future__ import annotations

import csv
import gzip
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

DATA_PATH = Path(__file__).parent / "data" / "uci_online_retail.csv.gz"
NON_PRODUCT_CODES = frozenset(
    {"POST", "D", "M", "DOT", "BANK CHARGES", "AMAZONFEE", "CRUK", "PADS", "C2", "S", "B"}
)


@dataclass(frozen=True)
class InvoiceLine:
    invoice: str
    stock_code: str
    description: str
    quantity: int
    invoiced_at: datetime
    unit_price: float
    customer_id: str
    country: str


@dataclass(frozen=True)
class Invoice:
    invoice: str
    customer_id: str
    country: str
    invoiced_at: datetime
    lines: tuple[InvoiceLine, ...]

    @property
    def cancelled(self) -> bool:
        return self.invoice.startswith("C")

    @property
    def revenue(self) -> float:
        return round(abs(sum(line.quantity * line.unit_price for line in self.lines)), 2)


def is_product(stock_code: str) -> bool:
    return stock_code.upper() not in NON_PRODUCT_CODES


def read_lines(path: Path = DATA_PATH) -> Iterator[InvoiceLine]:
    with gzip.open(path, "rt", encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            yield InvoiceLine(
                invoice=row["InvoiceNo"],
                stock_code=row["StockCode"],
                description=row["Description"].strip(),
                quantity=int(row["Quantity"]),
                invoiced_at=datetime.fromisoformat(row["InvoiceDate"]).replace(tzinfo=UTC),
                unit_price=float(row["UnitPrice"]),
                customer_id=row["CustomerID"].strip(),
                country=row["Country"],
            )


def group_invoices(lines: Iterable[InvoiceLine]) -> list[Invoice]:
    """Invoices in time order; an invoice's lines are adjacent in the shipped file."""
    grouped: dict[str, list[InvoiceLine]] = {}
    for line in lines:
        grouped.setdefault(line.invoice, []).append(line)
    invoices = [
        Invoice(number, ls[0].customer_id, ls[0].country, ls[0].invoiced_at, tuple(ls))
        for number, ls in grouped.items()
    ]
    invoices.sort(key=lambda i: (i.invoiced_at, i.invoice))
    return invoices


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def invoice_message(invoice: Invoice) -> dict[str, Any]:
    products = [
        {
            "product_id": line.stock_code,
            "sku": line.stock_code,
            "name": line.description,
            "price": line.unit_price,
            "quantity": abs(line.quantity),
        }
        for line in invoice.lines
        if is_product(line.stock_code)
    ]
    return {
        "type": "track",
        "event": "Order Refunded" if invoice.cancelled else "Order Completed",
        "userId": invoice.customer_id,
        "messageId": f"uci-invoice-{invoice.invoice}",
        "timestamp": _iso(invoice.invoiced_at),
        "properties": {
            "order_id": invoice.invoice,
            "revenue": invoice.revenue,
            "currency": "GBP",
            "products": products,
        },
    }


def customer_messages(invoices: Iterable[Invoice]) -> Iterator[dict[str, Any]]:
    """One identify per customer, at their first invoice."""
    seen: set[str] = set()
    for invoice in invoices:
        if invoice.customer_id in seen:
            continue
        seen.add(invoice.customer_id)
        yield {
            "type": "identify",
            "userId": invoice.customer_id,
            "messageId": f"uci-customer-{invoice.customer_id}",
            "timestamp": _iso(invoice.invoiced_at),
            "traits": {"customer_id": invoice.customer_id, "country": invoice.country},
        }


def demo_messages(path: Path = DATA_PATH) -> list[dict[str, Any]]:
    invoices = group_invoices(read_lines(path))
    return [*customer_messages(invoices), *(invoice_message(i) for i in invoices)]


def demo_products(path: Path = DATA_PATH) -> list[dict[str, Any]]:
    """The shop's catalog as the invoices describe it: each stock code with its latest
    description and unit price (the source has no categories, brands or stock levels)."""
    latest: dict[str, InvoiceLine] = {}
    for line in read_lines(path):
        if not is_product(line.stock_code) or line.unit_price <= 0 or not line.description:
            continue
        known = latest.get(line.stock_code)
        if known is None or line.invoiced_at >= known.invoiced_at:
            latest[line.stock_code] = line
    return [
        {
            "product_id": code,
            "sku": code,
            "title": line.description,
            "price": f"{line.unit_price:.2f}",
            "currency": "GBP",
        }
        for code, line in sorted(latest.items())
    ]
