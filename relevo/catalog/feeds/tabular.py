"""Tab- and comma-separated feeds and JSON lines.

TSV with Merchant Center headers (id, title, price, availability, ...) is read as a Merchant
feed; CSV and JSONL use Relevo's own field names (product_id, title, price, category, ...;
other columns go to attributes)."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import IO, Any

import orjson

from relevo.catalog.feeds.merchant import merchant_fields
from relevo.catalog.feeds.rows import Rejected, Row, to_row
from relevo.catalog.product import Product

OWN_FIELDS = set(Product.model_fields)


def _own_fields(raw: dict[str, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    attributes = dict(raw.get("attributes") or {})
    for name, value in raw.items():
        if value is None or value == "" or name == "attributes":
            continue
        if name in OWN_FIELDS:
            fields[name] = value
        else:
            attributes[name] = value
    if attributes:
        fields["attributes"] = attributes
    return fields


def read_merchant_tsv(stream: IO[str]) -> Iterator[Row]:
    reader = csv.DictReader(stream, delimiter="\t")
    for record in reader:
        raw = {(k or "").strip().removeprefix("g:"): v or "" for k, v in record.items()}
        yield to_row(reader.line_num, merchant_fields(raw))


def read_csv(stream: IO[str]) -> Iterator[Row]:
    reader = csv.DictReader(stream)
    for record in reader:
        if None in record:
            yield Rejected(reader.line_num, "more values than columns in the header")
            continue
        yield to_row(reader.line_num, _own_fields(dict(record)))


def read_jsonl(stream: IO[str]) -> Iterator[Row]:
    for number, line in enumerate(stream, 1):
        if not line.strip():
            continue
        try:
            raw = orjson.loads(line)
        except orjson.JSONDecodeError as error:
            yield Rejected(number, f"not JSON: {error}")
            continue
        if not isinstance(raw, dict):
            yield Rejected(number, "each line must be a JSON object")
            continue
        yield to_row(number, _own_fields(raw))
