"""Validation and normalisation of Segment messages (track, identify, page, screen, group, alias).

Segment's rules: every message needs ``userId`` or ``anonymousId`` (alias: ``previousId`` and
``userId``); ``timestamp`` is honoured, and when the client also sends ``sentAt`` its clock skew is
removed: ``timestamp = receivedAt - (sentAt - timestamp)``.

On top of the spec, every field is held to the limits of ``relevo.tracking.limits`` (ids, names,
keys, nesting, numbers, external ids, time range), so a message either fits both databases or is
quarantined with a reason naming the field and the limit.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, StrictStr, ValidationError, field_validator

from relevo.encoded import EncodedJson
from relevo.identity.claims import Claim
from relevo.identity.identities import Identity, message_identities, normalise_kind
from relevo.tracking import limits
from relevo.tracking.limits import (
    EXTERNAL_ID_KIND_PATTERN,
    MAX_EXTERNAL_ID_CHARS,
    MAX_ID_CHARS,
    MAX_INTEGER,
    MAX_NAME_CHARS,
    MAX_TIMESTAMP_MS,
    MIN_INTEGER,
    MIN_TIMESTAMP_MS,
)
from relevo.tracking.values import describe_value, find_problem, replace_unstorable
from relevo.tracking.wire import MessageFields, read_fields

log = logging.getLogger(__name__)

MESSAGE_TYPES = ("track", "identify", "page", "screen", "group", "alias")
MAX_MESSAGE_BYTES = limits.MAX_MESSAGE_BYTES  # here too: the routes and the API docs quote them
MAX_BATCH_BYTES = limits.MAX_BATCH_BYTES

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


# Not frozen: a frozen dataclass sets each field through object.__setattr__, and its __init__
# cost 2-3 us of the ~40 a message takes in a worker (one is made per message, and trust copies
# some). Nothing changes one after it is made.
@dataclass(slots=True)
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


@functools.lru_cache(maxsize=1024)
def _iso(ms: int) -> str:
    """The ISO text of a time in milliseconds; remembered, for every message of a request is
    received in the same millisecond and SDKs batch messages stamped alike."""
    seconds, millis = divmod(ms, 1000)
    return _iso_seconds(seconds) + f".{millis:03d}Z"


@functools.lru_cache(maxsize=4096)
def _iso_seconds(seconds: int) -> str:
    """The UTC time of ``seconds`` to the second: a request's messages share their second of
    receipt and mostly that of their timestamp, so each is formatted once (time.strftime, in
    turn several times cheaper than datetime.isoformat)."""
    moment = time.gmtime(seconds)
    if moment.tm_year < 1000:  # strftime does not pad the year to four digits
        return f"{moment.tm_year:04d}" + time.strftime("-%m-%dT%H:%M:%S", moment)
    return time.strftime("%Y-%m-%dT%H:%M:%S", moment)


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


without_nul = replace_unstorable  # the name storage and identity know it by


def _opt_str(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _quarantine_id(value: Any) -> str | None:
    """An id for the quarantine's id columns (255 characters): None when the message has no
    usable one; the full value stays in the stored payload."""
    if type(value) is bool or not isinstance(value, str | int):
        return None
    if isinstance(value, int) and not MIN_INTEGER <= value <= MAX_INTEGER:
        return None
    text = _opt_str(replace_unstorable(value))
    return text if text is not None and len(text) <= MAX_ID_CHARS else None


def validate_message(
    raw: Any,
    received_at_ms: int,
    *,
    index: int | None = None,
    implied_type: str | None = None,
    max_bytes: int | None = MAX_MESSAGE_BYTES,
    correct_skew: bool = True,
) -> TrackedMessage | RejectedMessage:
    """Check one message against the spec and the limits; never raises."""
    if not isinstance(raw, dict):
        return RejectedMessage(
            index, f"a message must be a JSON object, got {type(raw).__name__}", raw
        )
    try:
        return _validate(raw, received_at_ms, index, implied_type, max_bytes, correct_skew)
    except Exception as error:  # defence in depth: a check that fails must not fail the batch
        log.exception("validation failed on a message; it is quarantined")
        return RejectedMessage(
            index, f"the message could not be validated ({type(error).__name__})", raw
        )


def _validate(
    raw: dict[str, Any],
    received_at_ms: int,
    index: int | None,
    implied_type: str | None,
    max_bytes: int | None,
    correct_skew: bool,
) -> TrackedMessage | RejectedMessage:
    problem = find_problem(raw)
    encoded = b""
    if problem is None:
        try:
            encoded = orjson.dumps(raw)
        except orjson.JSONEncodeError:
            raw = replace_unstorable(raw)  # lone surrogates: valid JSON escapes, not storable
            try:
                encoded = orjson.dumps(raw)
            except orjson.JSONEncodeError as error:
                problem = f"the message cannot be written as JSON ({error})"
        else:
            if b"\\u0000" in encoded:
                raw = replace_unstorable(raw)

    def reject(reason: str) -> RejectedMessage:
        return RejectedMessage(
            index,
            reason,
            raw,
            _quarantine_id(raw.get("messageId")),
            _quarantine_id(raw.get("anonymousId")),
            _quarantine_id(raw.get("userId")),
        )

    if problem is not None:
        return reject(problem)
    if max_bytes is not None:
        size = len(encoded)
        if size > max_bytes:
            return reject(
                f"message is {size} bytes, over the {max_bytes // 1024} KB limit per message"
            )
    if implied_type is not None:
        if raw.get("type") not in (None, implied_type):
            return reject(
                f"type {describe_value(raw.get('type'))} sent to the /v1/{implied_type} endpoint"
            )
        raw = {**raw, "type": implied_type}
    if raw.get("type") not in MESSAGE_TYPES:
        return reject(
            f"type must be one of {', '.join(MESSAGE_TYPES)}; got {describe_value(raw.get('type'))}"
        )
    # The plain common shape is read directly; anything else (integer-like or ambiguous values,
    # other time formats, errors to describe) goes through the pydantic model.
    message = read_fields(raw)
    if message is None:
        try:
            message = _fields_of(SegmentMessage.model_validate(raw))
        except ValidationError as error:
            return reject(_describe(error))

    user_id = _opt_str(message.userId)
    anonymous_id = _opt_str(message.anonymousId)
    too_long = _field_over_limit(message, user_id, anonymous_id)
    if too_long is not None:
        return reject(too_long)
    if message.type == "alias":
        if not user_id or not _opt_str(message.previousId):
            return reject("alias needs both previousId and userId")
    elif not user_id and not anonymous_id:
        return reject("userId or anonymousId is required")
    if message.type == "track" and not message.event:
        return reject("track needs an event name in 'event'")
    if message.type == "group" and not _opt_str(message.groupId):
        return reject("group needs a groupId")
    if message.context is not None and "externalIds" in message.context:
        malformed = _external_ids_problem(message.context["externalIds"])
        if malformed is not None:
            return reject(malformed)

    timestamp = message.timestamp if message.timestamp is not None else message.originalTimestamp
    if timestamp is None:
        timestamp_ms = received_at_ms
    elif correct_skew and message.sentAt is not None:
        timestamp_ms = received_at_ms - (message.sentAt - timestamp)
    else:
        timestamp_ms = timestamp
    if not MIN_TIMESTAMP_MS <= timestamp_ms <= MAX_TIMESTAMP_MS:
        return reject(
            "timestamp falls outside the years 0001 to 9999"
            + (
                " after the clock-skew correction with sentAt"
                if correct_skew and message.sentAt is not None
                else ""
            )
        )

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


def _fields_of(message: SegmentMessage) -> MessageFields:
    def ms(moment: datetime | None) -> int | None:
        return None if moment is None else _ms(moment)

    return MessageFields(
        message.type,
        message.messageId,
        message.anonymousId,
        message.userId,
        message.previousId,
        message.groupId,
        message.event,
        message.name,
        ms(message.timestamp),
        ms(message.originalTimestamp),
        ms(message.sentAt),
        message.context,
    )


def _field_over_limit(
    message: MessageFields, user_id: str | None, anonymous_id: str | None
) -> str | None:
    """The id or name longer than its column holds, as it will be stored (an integer id as its
    decimal text, which 64 bits keep short)."""
    ids = (
        ("messageId", message.messageId),
        ("userId", user_id),
        ("anonymousId", anonymous_id),
        ("previousId", _opt_str(message.previousId)),
        ("groupId", _opt_str(message.groupId)),
    )
    for field, value in ids:
        if value is not None and len(value) > MAX_ID_CHARS:
            return (
                f"{field} is {len(value):,} characters, over the limit of {MAX_ID_CHARS} "
                "characters per id"
            )
    for field, name in (("event", message.event), ("name", message.name)):
        if name is not None and len(name) > MAX_NAME_CHARS:
            return (
                f"{field} is {len(name):,} characters, over the limit of {MAX_NAME_CHARS} "
                "characters per event or page name"
            )
    return None


def _external_ids_problem(external_ids: Any) -> str | None:
    """``context.externalIds``: an array of ``{type, id}`` objects that identities can use."""
    if external_ids is None:
        return None
    if not isinstance(external_ids, list):
        return "context.externalIds must be an array of {type, id} objects"
    for position, entry in enumerate(external_ids):
        where = f"context.externalIds[{position}]"
        if not isinstance(entry, dict):
            return f"{where} must be an object with type and id"
        kind, value = entry.get("type"), entry.get("id")
        if not isinstance(kind, str) or normalise_kind(kind) is None:
            return (
                f"{where}.type must be an identity kind matching {EXTERNAL_ID_KIND_PATTERN} "
                f"(case, '-' and spaces aside); got {describe_value(kind)}"
            )
        if type(value) is bool or not isinstance(value, str | int) or value == "":
            return f"{where}.id must be a non-empty string or an integer"
        if isinstance(value, str) and len(value) > MAX_EXTERNAL_ID_CHARS:
            return (
                f"{where}.id is {len(value):,} characters, over the limit of "
                f"{MAX_EXTERNAL_ID_CHARS} characters per id"
            )
    return None
