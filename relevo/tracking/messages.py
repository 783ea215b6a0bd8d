"""Validation and normalisation of Segment messages (track, identify, page, screen, group, alias).

Segment's rules: every message needs ``userId`` or ``anonymousId`` (alias: ``previousId`` and
``userId``); ``timestamp`` is honoured, and when the client also sends ``sentAt`` its clock skew is
removed: ``timestamp = receivedAt - (sentAt - timestamp)``.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, StrictStr, ValidationError, field_validator

from relevo.encoded import EncodedJson
from relevo.identity.claims import Claim
from relevo.identity.identities import Identity, message_identities

MESSAGE_TYPES = ("track", "identify", "page", "screen", "group", "alias")
MAX_MESSAGE_BYTES = 32 * 1024
MAX_BATCH_BYTES = 500 * 1024

Id = StrictStr | int


class SegmentMessage(BaseModel):
    """The fields Relevo reads; anything else a client sends is kept in the stored payload."""

    model_config = ConfigDict(extra="allow")

    type: Literal["track", "identify", "page", "screen", "group", "alias"]
    messageId: StrictStr | None = None
    anonymousId: Id | None = None
    userId: Id | None = None
    previousId: Id | None = None
    groupId: Id | None = None
    event: StrictStr | None = None
    name: StrictStr | None = None
    timestamp: datetime | None = None
    originalTimestamp: datetime | None = None
    sentAt: datetime | None = None
    context: dict[str, Any] | None = None
    properties: dict[str, Any] | None = None
    traits: dict[str, Any] | None = None
    integrations: dict[str, Any] | None = None

    @field_validator("timestamp", "originalTimestamp", "sentAt")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)  # Segment treats zone-less times as UTC
        return value


@dataclass(frozen=True, slots=True)
class TrackedMessage:
    """A valid message, ready to store."""

    message_id: str
    type: str
    event: str | None
    anonymous_id: str | None
    user_id: str | None
    timestamp_ms: int
    received_at_ms: int
    identities: list[Identity]
    payload: dict[str, Any]
    payload_json: str  # encoded once, by the request handler, outside the write lock
    # Set by the source's trust policy (relevo.tracking.trust): ``identities`` are then only the
    # trusted ones; what a public key asserted without proof is in ``claims``.
    claims: tuple[Claim, ...] = ()
    linked_profile: int | None = None  # the profile a verified e-mail-link token names
    trusted: bool = True  # sent with a server or secret key: an alias may then merge user ids


@dataclass(frozen=True, slots=True)
class RejectedMessage:
    """An invalid message: quarantined with its reason, reported by its position."""

    index: int | None
    reason: str
    raw: Any
    message_id: str | None = None
    anonymous_id: str | None = None
    user_id: str | None = None


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _iso(ms: int) -> str:
    # time.strftime is several times cheaper than datetime.isoformat on this hot path.
    seconds, millis = divmod(ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


def _describe(error: ValidationError) -> str:
    by_field: dict[str, list[str]] = {}
    for item in error.errors():
        by_field.setdefault(str(item["loc"][0]) if item["loc"] else "message", []).append(
            item["msg"]
        )
    parts = []
    for where, messages in list(by_field.items())[:3]:
        if where in ("anonymousId", "userId", "previousId", "groupId"):
            parts.append(f"{where} must be a string or an integer")
        else:
            parts.append(f"{where}: {messages[0]}")
    return "; ".join(parts)


def _content_id(raw: dict[str, Any]) -> str:
    """An id for a message sent without messageId.

    With a client timestamp, identical bytes are a retry of one event: hash them so the retry
    deduplicates. Without one, two identical messages are two events (Segment's server assigns
    ids the same way).
    """
    if raw.get("timestamp") or raw.get("originalTimestamp"):
        digest = hashlib.sha256(orjson.dumps(raw, option=orjson.OPT_SORT_KEYS)).hexdigest()
        return f"relevo-{digest[:32]}"
    return f"relevo-{uuid.uuid4().hex}"


def without_nul(value: Any) -> Any:
    """``value`` with NUL characters replaced by U+FFFD: PostgreSQL cannot store NUL in text or
    jsonb, and both backends must keep the same data."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {without_nul(k): without_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [without_nul(v) for v in value]
    return value


def _opt_str(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def validate_message(
    raw: Any,
    received_at_ms: int,
    *,
    index: int | None = None,
    implied_type: str | None = None,
    max_bytes: int | None = MAX_MESSAGE_BYTES,
    correct_skew: bool = True,
) -> TrackedMessage | RejectedMessage:
    """Check one message against the spec; never raises."""
    if not isinstance(raw, dict):
        return RejectedMessage(
            index, f"a message must be a JSON object, got {type(raw).__name__}", raw
        )
    encoded = orjson.dumps(raw)
    if b"\\u0000" in encoded:
        raw = without_nul(raw)
    ids = {
        k: _opt_str(raw.get(k)) if isinstance(raw.get(k), str | int) else None
        for k in ("messageId", "anonymousId", "userId")
    }

    def reject(reason: str) -> RejectedMessage:
        return RejectedMessage(
            index, reason, raw, ids["messageId"], ids["anonymousId"], ids["userId"]
        )

    if max_bytes is not None:
        size = len(encoded)
        if size > max_bytes:
            return reject(
                f"message is {size} bytes, over the {max_bytes // 1024} KB limit per message"
            )
    if implied_type is not None:
        if raw.get("type") not in (None, implied_type):
            return reject(f"type {raw.get('type')!r} sent to the /v1/{implied_type} endpoint")
        raw = {**raw, "type": implied_type}
    if raw.get("type") not in MESSAGE_TYPES:
        return reject(f"type must be one of {', '.join(MESSAGE_TYPES)}; got {raw.get('type')!r}")
    try:
        message = SegmentMessage.model_validate(raw)
    except ValidationError as error:
        return reject(_describe(error))

    user_id = _opt_str(message.userId)
    anonymous_id = _opt_str(message.anonymousId)
    if message.type == "alias":
        if not user_id or not _opt_str(message.previousId):
            return reject("alias needs both previousId and userId")
    elif not user_id and not anonymous_id:
        return reject("userId or anonymousId is required")
    if message.type == "track" and not message.event:
        return reject("track needs an event name in 'event'")
    if message.type == "group" and not _opt_str(message.groupId):
        return reject("group needs a groupId")

    timestamp = message.timestamp or message.originalTimestamp
    if timestamp is None:
        timestamp_ms = received_at_ms
    elif correct_skew and message.sentAt is not None:
        timestamp_ms = received_at_ms - (_ms(message.sentAt) - _ms(timestamp))
    else:
        timestamp_ms = _ms(timestamp)

    message_id = message.messageId or _content_id(raw)
    payload = dict(raw)
    payload.pop("writeKey", None)  # a credential, not data about the person
    payload["messageId"] = message_id
    if user_id:
        payload["userId"] = user_id
    if anonymous_id:
        payload["anonymousId"] = anonymous_id
    if timestamp is not None:
        payload["originalTimestamp"] = raw.get("timestamp") or raw.get("originalTimestamp")
    payload["timestamp"] = _iso(timestamp_ms)
    payload["receivedAt"] = _iso(received_at_ms)
    return TrackedMessage(
        message_id=message_id,
        type=message.type,
        event=message.event if message.type == "track" else message.name,
        anonymous_id=anonymous_id,
        user_id=user_id,
        timestamp_ms=timestamp_ms,
        received_at_ms=received_at_ms,
        identities=message_identities(payload),
        payload=payload,
        payload_json=EncodedJson(orjson.dumps(payload).decode()),
    )
