"""Choosing the reader for a feed file (by option or by its name and first bytes)."""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import IO

from relevo.catalog.feeds.merchant_xml import read_merchant_xml
from relevo.catalog.feeds.rows import Row
from relevo.catalog.feeds.tabular import read_csv, read_jsonl, read_merchant_tsv


class FeedFormat(StrEnum):
    AUTO = "auto"
    MERCHANT_XML = "merchant-xml"
    MERCHANT_TSV = "merchant-tsv"
    CSV = "csv"
    JSONL = "jsonl"


@contextmanager
def _binary(path: Path) -> Iterator[IO[bytes]]:
    with open(path, "rb") as raw:
        if raw.read(2) == b"\x1f\x8b":
            raw.seek(0)
            with gzip.open(raw) as unzipped:
                yield unzipped  # type: ignore[misc]
        else:
            raw.seek(0)
            yield raw


def detect(path: Path) -> FeedFormat:
    with _binary(path) as stream:
        head = stream.read(2048).lstrip(b"\xef\xbb\xbf").lstrip()
    name = path.name.lower().removesuffix(".gz")
    if head.startswith(b"<"):
        return FeedFormat.MERCHANT_XML
    if name.endswith((".jsonl", ".ndjson")) or head.startswith(b"{"):
        return FeedFormat.JSONL
    first_line = head.split(b"\n", 1)[0]
    if b"\t" in first_line or name.endswith((".tsv", ".txt")):
        return FeedFormat.MERCHANT_TSV
    return FeedFormat.CSV


@contextmanager
def open_feed(path: Path, fmt: FeedFormat = FeedFormat.AUTO) -> Iterator[Iterator[Row]]:
    """The rows of a feed file (gzipped or not)."""
    fmt = detect(path) if fmt is FeedFormat.AUTO else fmt
    with _binary(path) as stream:
        if fmt is FeedFormat.MERCHANT_XML:
            yield read_merchant_xml(stream)
            return
        text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
        readers = {
            FeedFormat.MERCHANT_TSV: read_merchant_tsv,
            FeedFormat.CSV: read_csv,
            FeedFormat.JSONL: read_jsonl,
        }
        yield readers[fmt](text)
