"""From a request body to validated messages: size limits, gzip, JSON, batch context."""

from __future__ import annotations

import gzip
import zlib
from typing import Any

import orjson

from relevo.errors import InvalidPayload, PayloadTooLarge
from relevo.tracking.messages import (
    MAX_BATCH_BYTES,
    MAX_MESSAGE_BYTES,
    RejectedMessage,
    TrackedMessage,
    validate_message,
)


def decode_body(body: bytes, content_encoding: str | None, limit: int) -> bytes:
    """Un-gzip (bounded: a small bomb must not expand without limit) and check the size limit."""
    if content_encoding and content_encoding.strip().lower() == "gzip":
        try:
            decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
            body = decompressor.decompress(body, limit + 1)
        except zlib.error:
            raise InvalidPayload(
                "Content-Encoding is gzip but the body is not valid gzip"
            ) from None
        if len(body) > limit or decompressor.unconsumed_tail:
            raise PayloadTooLarge(_too_large(limit), limit_bytes=limit)
    elif content_encoding and content_encoding.strip().lower() not in ("identity", ""):
        raise InvalidPayload(f"unsupported Content-Encoding {content_encoding!r}; use gzip")
    if len(body) > limit:
        raise PayloadTooLarge(_too_large(limit), limit_bytes=limit)
    return body


def _too_large(limit: int) -> str:
    what = "batch" if limit == MAX_BATCH_BYTES else "message"
    return f"{what} is over the {limit // 1024} KB limit per {what}"


def parse_json_object(body: bytes) -> dict[str, Any]:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise InvalidPayload(f"body is not valid JSON: {error}") from None
    if not isinstance(data, dict):
        raise InvalidPayload("body must be a JSON object")
    return data


def split_batch(
    data: dict[str, Any], received_at_ms: int, body_bytes: int
) -> tuple[list[TrackedMessage], list[RejectedMessage]]:
    """Validate every message of a Segment batch; batch-level context applies to each."""
    batch = data.get("batch")
    if not isinstance(batch, list):
        raise InvalidPayload("a batch body needs a 'batch' array of messages")
    shared_context = data.get("context") if isinstance(data.get("context"), dict) else None
    shared_integrations = (
        data.get("integrations") if isinstance(data.get("integrations"), dict) else None
    )
    # Small bodies can't hold an over-size message: skip measuring each one.
    max_bytes = MAX_MESSAGE_BYTES if body_bytes > MAX_MESSAGE_BYTES else None
    accepted: list[TrackedMessage] = []
    rejected: list[RejectedMessage] = []
    for index, raw in enumerate(batch):
        if isinstance(raw, dict) and (shared_context or shared_integrations):
            raw = dict(raw)
            if shared_context:
                own = raw.get("context")
                raw["context"] = (
                    {**shared_context, **own}
                    if isinstance(own, dict)
                    else (own if own is not None else shared_context)
                )
            if shared_integrations and "integrations" not in raw:
                raw["integrations"] = shared_integrations
        result = validate_message(raw, received_at_ms, index=index, max_bytes=max_bytes)
        (accepted if isinstance(result, TrackedMessage) else rejected).append(result)  # type: ignore[arg-type]
    return accepted, rejected


def unzip_if_needed(data: bytes) -> bytes:
    """For files: gzip by magic number."""
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
