"""From a request body to validated messages: size limits while reading, gzip, JSON, batch
context, what to quarantine and what to answer. The limits are in ``relevo.tracking.limits``."""

from __future__ import annotations

import gzip
import json
import zlib
from collections import Counter
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, NamedTuple, Protocol

import orjson

from relevo.errors import InvalidPayload, PayloadTooLarge
from relevo.tracking import limits, values
from relevo.tracking.jobs import StoredBatch
from relevo.tracking.messages import RejectedMessage, TrackedMessage, validate_message
from relevo.tracking.writer import refused_by_store


class StreamingRequest(Protocol):
    """What ``read_body`` needs of a request (Starlette's ``Request`` has it)."""

    @property
    def headers(self) -> Mapping[str, str]: ...

    def stream(self) -> AsyncIterator[bytes]: ...


async def read_body(request: StreamingRequest, limit: int) -> bytes:
    """The request body, un-gzipped, refused with a 413 as soon as it passes ``limit``.

    A Content-Length over the limit is refused before anything is read; otherwise the body is
    counted while it streams in, and a gzip body is decompressed as it arrives, with both the
    compressed bytes and the decompressed size capped, so neither a large upload nor a small
    gzip bomb is ever held whole.
    """
    gunzip = _gzip_decoder(request.headers.get("content-encoding"), limit)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    received = 0
    chunks: list[bytes] = []
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit:
            raise _too_large(limit)
        if chunk:
            chunks.append(gunzip.feed(chunk) if gunzip else chunk)
    if gunzip:
        gunzip.finish()
    return b"".join(chunks)


def _gzip_decoder(content_encoding: str | None, limit: int) -> _Gunzip | None:
    encoding = (content_encoding or "").strip().lower()
    if encoding == "gzip":
        return _Gunzip(limit)
    if encoding not in ("identity", ""):
        raise InvalidPayload(f"unsupported Content-Encoding {content_encoding!r}; use gzip")
    return None


class _Gunzip:
    """Incremental gzip decoding that never produces more than ``limit`` bytes in all, across
    concatenated gzip members (which decode to the concatenation of their contents)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.produced = 0
        self._decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._started = False

    def feed(self, data: bytes) -> bytes:
        out: list[bytes] = []
        while data:
            self._started = True
            try:
                # At most one byte past the limit: enough to know it was passed.
                piece = self._decoder.decompress(data, self.limit + 1 - self.produced)
            except zlib.error:
                raise InvalidPayload(
                    "Content-Encoding is gzip but the body is not valid gzip"
                ) from None
            self.produced += len(piece)
            if self.produced > self.limit:
                raise _too_large(self.limit)
            out.append(piece)
            if self._decoder.eof:  # another member may follow
                data = self._decoder.unused_data
                if data:
                    self._decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
            else:
                data = self._decoder.unconsumed_tail
        return b"".join(out)

    def finish(self) -> None:
        if not self._started or not self._decoder.eof:
            raise InvalidPayload("Content-Encoding is gzip but the gzip body is incomplete")


def _too_large(limit: int) -> PayloadTooLarge:
    what = "batch" if limit == limits.MAX_BATCH_BYTES else "message"
    return PayloadTooLarge(
        f"{what} is over the {limit // 1024} KB limit per {what}", limit_bytes=limit
    )


# orjson reads integers beyond 64 bits as floats, silently: where a body has a run of 19 digits
# or more, Python's json reads it instead and keeps the exact value (to be quarantined). Digits
# are mapped to "0" and the run searched as a substring: 15 times cheaper than a regex.
_DIGITS_AS_ZERO = bytes(ord("0") if chr(b).isdigit() and b < 128 else b for b in range(256))
_NINETEEN_DIGITS = b"0" * 19


def parse_json_object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object.

    orjson reads it; JSON that orjson refuses but Python's ``json`` reads (``NaN``,
    ``Infinity``, ``1e400``, lone surrogate escapes) and any body with integers that may be
    beyond 64 bits are read by ``json``, with those numbers kept as ``UnstorableNumber`` and
    lone surrogates replaced by U+FFFD: the messages holding them are then quarantined alone
    by ``validate_message`` instead of the whole batch being refused. A body neither reads is
    a 400 naming the problem.
    """
    data: Any
    if _may_hold_long_integers(body):
        data = _parse_leniently(body, None)
    else:
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError as error:
            data = _parse_leniently(body, error)
    if not isinstance(data, dict):
        raise InvalidPayload("body must be a JSON object")
    for key, value in data.items():
        # What is read before the messages are validated (the write key, looked up in the
        # database) must be storable too; the messages are made so by validate_message.
        if type(value) is str and "\x00" in value:
            data[key] = values.replace_unstorable(value)
    return data


def _may_hold_long_integers(body: bytes) -> bool:
    return body.translate(_DIGITS_AS_ZERO).find(_NINETEEN_DIGITS) >= 0


def _parse_leniently(body: bytes, orjson_error: orjson.JSONDecodeError | None) -> Any:
    def refuse(error: Exception) -> InvalidPayload:
        return InvalidPayload(f"body is not valid JSON: {orjson_error or error}")

    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise refuse(error) from None
    try:
        data = json.loads(
            text,
            parse_int=values.parse_int,
            parse_float=values.parse_float,
            parse_constant=values.parse_constant,
        )
    except RecursionError:
        raise InvalidPayload(
            "body is nested too deeply to be read (a message may nest objects and arrays "
            f"{limits.MAX_DEPTH} levels deep)"
        ) from None
    except ValueError as error:  # json.JSONDecodeError included
        raise refuse(error) from None
    return values.replace_unstorable(data)


class Batch(NamedTuple):
    """A Segment batch, validated."""

    accepted: list[TrackedMessage]
    rejected: list[RejectedMessage]  # every one, in order: all are reported by index

    def indexes(self) -> list[int | None]:
        """The batch index of each accepted message."""
        taken = {r.index for r in self.rejected}
        return [i for i in range(len(self.accepted) + len(taken)) if i not in taken]


def quarantine_in_full(rejected: Sequence[RejectedMessage]) -> list[RejectedMessage]:
    """The rejected messages of one request to store: the first
    ``QUARANTINED_IN_FULL_PER_REQUEST`` in full, the rest as one summary entry saying how many
    there were and why (counts per reason). All of them are still reported in the answer."""
    keep = limits.QUARANTINED_IN_FULL_PER_REQUEST
    if len(rejected) <= keep:
        return list(rejected)
    rest = rejected[keep:]
    reasons = Counter(r.reason for r in rest).most_common()
    shown = reasons[:50]
    summary = {
        "omitted": len(rest),
        "indexes": [r.index for r in rest],
        "reasons": [{"reason": reason, "count": count} for reason, count in shown],
        "other_reasons": len(reasons) - len(shown),
    }
    counts = "; ".join(f"{count} x {reason}" for reason, count in shown[:5])
    others = f"; and {len(reasons) - 5} other reasons" if len(reasons) > 5 else ""
    reason = (
        f"{len(rest)} more rejected messages of this request were not stored in full "
        f"(at most {keep} are per request): {counts}{others}"
    )
    return [*rejected[:keep], RejectedMessage(None, reason, summary)]


def batch_answer(
    result: StoredBatch, rejected: Sequence[RejectedMessage], indexes: Sequence[int | None]
) -> dict[str, Any]:
    """The body of a batch's 200 answer: counts, and every rejected message by index, the
    messages the database refused after validation included (``indexes[i]`` is the batch index
    of the job's i-th message)."""
    reported = [(r.index, r.reason) for r in rejected]
    reported += [(indexes[position], reason) for position, reason in refused_by_store(result)]
    reported.sort(key=lambda item: -1 if item[0] is None else item[0])
    return {
        "success": True,
        "accepted": result.stored,
        "duplicates": result.duplicates,
        "suppressed": result.suppressed,
        "rejected": [{"index": index, "reason": reason} for index, reason in reported],
    }


def split_batch(data: dict[str, Any], received_at_ms: int, body_bytes: int) -> Batch:
    """Validate every message of a Segment batch; batch-level context applies to each."""
    batch = data.get("batch")
    if not isinstance(batch, list):
        raise InvalidPayload("a batch body needs a 'batch' array of messages")
    if len(batch) > limits.MAX_BATCH_MESSAGES:
        raise InvalidPayload(
            f"the batch holds {len(batch):,} messages, over the limit of "
            f"{limits.MAX_BATCH_MESSAGES:,} per batch; send them in several batches",
            limit_messages=limits.MAX_BATCH_MESSAGES,
        )
    shared_context = data.get("context") if isinstance(data.get("context"), dict) else None
    shared_integrations = (
        data.get("integrations") if isinstance(data.get("integrations"), dict) else None
    )
    # Small bodies can't hold an over-size message: skip measuring each one.
    max_bytes = limits.MAX_MESSAGE_BYTES if body_bytes > limits.MAX_MESSAGE_BYTES else None
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
        if isinstance(result, TrackedMessage):
            accepted.append(result)
        else:
            rejected.append(result)
    return Batch(accepted, rejected)


def unzip_if_needed(data: bytes) -> bytes:
    """For files: gzip by magic number."""
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
