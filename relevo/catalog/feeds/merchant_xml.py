"""Google Merchant Center RSS 2.0 feeds (items with g:-namespaced fields), read as a stream:
a feed with a million items never has to fit in memory. DTDs and entities are refused
(defusedxml), so a hostile feed cannot expand into gigabytes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO

from defusedxml.ElementTree import iterparse

from relevo.catalog.feeds.merchant import merchant_fields
from relevo.catalog.feeds.rows import Rejected, Row, to_row

G = "{http://base.google.com/ns/1.0}"


def _name(tag: str) -> str:
    return tag.split("}", 1)[1] if tag.startswith("{") else tag


def read_merchant_xml(stream: IO[bytes]) -> Iterator[Row]:
    """One row per <item> (or Atom <entry>); the row number is the item's position."""
    number = 0
    try:
        for _, element in iterparse(stream, events=("end",), forbid_dtd=True):
            if _name(element.tag) not in ("item", "entry"):
                continue
            number += 1
            raw: dict[str, str] = {}
            for child in element:
                name = _name(child.tag)
                text = "".join(child.itertext())
                # Repeated fields (additional_image_link): the first is kept.
                if name not in raw or not raw[name].strip():
                    raw[name] = text
            element.clear()
            yield to_row(number, merchant_fields(raw))
    except Exception as error:  # ParseError, DTDForbidden, EntitiesForbidden
        yield Rejected(number + 1, f"the XML stops being readable after item {number}: {error}")
