"""Offline / point-of-sale orders from CSV, one row per order line, keyed by customer id or
e-mail. Rows of one ``order_id`` become one Segment 'Order Completed' message.

Columns: order_id, timestamp (ISO 8601), customer_id and/or email, product_id, quantity, price;
optional: name, category, brand, currency, store.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from relevo.imports.events import open_text
from relevo.tracking.messages import RejectedMessage

REQUIRED = ("order_id", "timestamp", "product_id", "quantity", "price")


def _line(row: dict[str, str]) -> dict[str, Any]:
    product: dict[str, Any] = {
        "product_id": row["product_id"].strip(),
        "quantity": int(row["quantity"]),
        "price": float(row["price"]),
    }
    for key in ("name", "category", "brand", "sku"):
        if row.get(key):
            product[key] = row[key].strip()
    return product


def _timestamp(value: str) -> str:
    moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.isoformat()


def read_orders(path: Path) -> Iterator[tuple[int, Any]]:
    """Yield ``(line_number, message or RejectedMessage)``; rows of an order must be adjacent."""
    with open_text(path) as raw:
        reader = csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8-sig", newline=""))
        missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
        if missing or not {"customer_id", "email"} & set(reader.fieldnames or []):
            need = ", ".join(missing) or "customer_id or email"
            yield (
                1,
                RejectedMessage(
                    1, f"line 1: the header lacks {need}", ",".join(reader.fieldnames or [])
                ),
            )
            return
        current: dict[str, Any] | None = None
        first_line = 0
        for line_number, row in enumerate(reader, start=2):
            try:
                order_id = row["order_id"].strip()
                if not order_id:
                    raise ValueError("order_id is empty")
                customer, email = (
                    (row.get("customer_id") or "").strip(),
                    (row.get("email") or "").strip(),
                )
                if not customer and not email:
                    raise ValueError("neither customer_id nor email is set")
                line = _line(row)
                timestamp = _timestamp(row["timestamp"])
            except (ValueError, KeyError, TypeError) as error:
                yield (
                    line_number,
                    RejectedMessage(line_number, f"line {line_number}: {error}", dict(row)),
                )
                continue
            if current is not None and current["properties"]["order_id"] != order_id:
                yield first_line, current
                current = None
            if current is None:
                first_line = line_number
                current = {
                    "type": "track",
                    "event": "Order Completed",
                    "messageId": f"order-{order_id}",
                    "timestamp": timestamp,
                    "properties": {
                        "order_id": order_id,
                        "currency": row.get("currency") or None,
                        "products": [],
                    },
                    "context": {
                        "channel": "offline",
                        **({"traits": {"email": email}} if email else {}),
                    },
                }
                if customer:
                    current["userId"] = customer
                else:
                    current["anonymousId"] = f"email:{email.lower()}"
                if row.get("store"):
                    current["properties"]["store"] = row["store"]
            current["properties"]["products"].append(line)
        if current is not None:
            yield first_line, current
