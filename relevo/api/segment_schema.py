"""The Segment tracking bodies and the common error shape, for the OpenAPI document only.

The tracking routes parse their bodies by hand with orjson (FastAPI's typed-body path costs
several times more per message) and validate them with ``relevo.tracking.messages``; the models
here never see a request. They describe the same rules so that ``/docs`` tells a client what
to send and a fuzzer generating from ``/openapi.json`` reaches the validation behind each route:

- ``tracking_openapi_extra(kind)`` is the ``openapi_extra`` of one tracking route (``track`` ...
  ``alias``, ``batch``): the request body as an inline JSON schema (no ``$ref``, so nothing has to
  be registered in ``components``) and the schema of the 200 answer;
- ``error_responses(...)`` is a FastAPI ``responses=`` dict whose entries carry ``ErrorResponse``,
  the one error shape every route answers with (``relevo.api.app.error_body``).

What a JSON schema cannot say (a byte size) is said in the descriptions and in the
``x-relevo-max-bytes`` extension. Every limit comes from ``relevo.tracking.limits``, which the
parser and the validator enforce, so the document cannot drift from them.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr, StringConstraints
from pydantic.config import JsonDict

from relevo.tracking.limits import (
    EXTERNAL_ID_KIND_PATTERN,
    MAX_BATCH_BYTES,
    MAX_BATCH_MESSAGES,
    MAX_DEPTH,
    MAX_EXTERNAL_ID_CHARS,
    MAX_ID_CHARS,
    MAX_INTEGER,
    MAX_KEY_CHARS,
    MAX_MESSAGE_BYTES,
    MAX_NAME_CHARS,
    MIN_INTEGER,
)
from relevo.tracking.messages import MESSAGE_TYPES

# The parser treats an empty id or name as a missing one.
_IdText = Annotated[StrictStr, StringConstraints(min_length=1, max_length=MAX_ID_CHARS)]
_Name = Annotated[StrictStr, StringConstraints(min_length=1, max_length=MAX_NAME_CHARS)]
_Integer = Annotated[int, Field(ge=MIN_INTEGER, le=MAX_INTEGER)]
_ExternalIdText = Annotated[
    StrictStr, StringConstraints(min_length=1, max_length=MAX_EXTERNAL_ID_CHARS)
]
Id = _IdText | _Integer  # Segment allows integer ids; they are stored as their decimal string
Timestamp = Annotated[
    str,
    Field(
        json_schema_extra={"format": "date-time"},
        description="ISO 8601; a time without zone is UTC. After clock-skew correction it "
        "must fall in the years 0001 to 9999",
    ),
]
# Objects whose fields are the client's own (properties, traits ...): any JSON, within limits.
JsonObject = Annotated[
    dict[str, Any],
    Field(
        json_schema_extra={"propertyNames": {"maxLength": MAX_KEY_CHARS}},
        description=f"Any JSON object: keys of at most {MAX_KEY_CHARS} characters, at most "
        f"{MAX_DEPTH} levels of nesting (the message counting as one), integers of 64 bits, "
        "finite numbers; NUL and lone surrogates are stored as U+FFFD",
    ),
]


class ExternalId(BaseModel):
    """A custom identity (a loyalty card, a CRM id) that resolves to the same profile."""

    model_config = ConfigDict(extra="allow")

    id: _ExternalIdText | _Integer
    type: StrictStr = Field(
        description="The identity's kind, e.g. 'loyalty_card', 'email', 'phone': lower-cased, "
        f"'-' and space read as '_', it must then match {EXTERNAL_ID_KIND_PATTERN}"
    )
    collection: StrictStr | None = None
    encoding: StrictStr | None = None


# Objects that keep the fields they do not name (messages, context): keys within the limit.
_OPEN: JsonDict = {"propertyNames": {"maxLength": MAX_KEY_CHARS}}
# Every call type except alias names the person by userId or anonymousId.
_NAMES_A_PERSON: JsonDict = {
    **_OPEN,
    "anyOf": [
        {"required": [field], "properties": {field: {"not": {"type": "null"}}}}
        for field in ("userId", "anonymousId")
    ],
}


class Context(BaseModel):
    """Where the call came from. The fields Relevo reads; any other field is kept."""

    model_config = ConfigDict(extra="allow", json_schema_extra=_OPEN)

    ip: StrictStr | None = None
    userAgent: StrictStr | None = Field(None, description="Device, OS and browser come from it")
    locale: StrictStr | None = None
    page: JsonObject | None = Field(
        None, description="url, referrer, path, title: the traffic source of the visit"
    )
    campaign: JsonObject | None = Field(None, description="utm_* values without the prefix")
    traits: JsonObject | None = Field(None, description="email and phone are identities")
    externalIds: list[ExternalId] | None = None
    consent: JsonObject | None = None
    device: JsonObject | None = None
    os: JsonObject | None = None


class _Message(BaseModel):
    """The fields every call type shares."""

    model_config = ConfigDict(extra="allow", json_schema_extra=_OPEN)

    messageId: _IdText | None = Field(
        None, description="Makes retries idempotent: a message id seen before is stored once"
    )
    anonymousId: Id | None = Field(None, description="The visitor's device or cookie id")
    userId: Id | None = Field(None, description="The shop's own id of a known customer")
    timestamp: Timestamp | None = Field(None, description="When it happened (client clock)")
    originalTimestamp: Timestamp | None = None
    sentAt: Timestamp | None = Field(
        None, description="When the client sent it: with timestamp, corrects the client's clock"
    )
    context: Context | None = None
    integrations: JsonObject | None = None
    writeKey: StrictStr | None = Field(
        None, description="The write key, for clients that cannot send HTTP Basic"
    )


class TrackMessage(_Message):
    """Something the person did."""

    model_config = ConfigDict(extra="allow", json_schema_extra=_NAMES_A_PERSON)

    type: Literal["track"]
    event: _Name = Field(description="The event's name, e.g. 'Product Viewed'")
    properties: JsonObject | None = None


class IdentifyMessage(_Message):
    """Who the person is: traits, and identities (email, phone) that link profiles."""

    model_config = ConfigDict(extra="allow", json_schema_extra=_NAMES_A_PERSON)

    type: Literal["identify"]
    traits: JsonObject | None = None


class PageMessage(_Message):
    """A page view on a website."""

    model_config = ConfigDict(extra="allow", json_schema_extra=_NAMES_A_PERSON)

    type: Literal["page"]
    name: _Name | None = None
    category: StrictStr | None = None
    properties: JsonObject | None = None


class ScreenMessage(_Message):
    """A screen view in a mobile app."""

    model_config = ConfigDict(extra="allow", json_schema_extra=_NAMES_A_PERSON)

    type: Literal["screen"]
    name: _Name | None = None
    properties: JsonObject | None = None


class GroupMessage(_Message):
    """The person belongs to an account (a company, a household)."""

    model_config = ConfigDict(extra="allow", json_schema_extra=_NAMES_A_PERSON)

    type: Literal["group"]
    groupId: Id
    traits: JsonObject | None = Field(None, description="The account's traits")


class AliasMessage(_Message):
    """Links an earlier id (previousId) to the person's userId."""

    model_config = ConfigDict(extra="allow", json_schema_extra=_OPEN)

    type: Literal["alias"]
    previousId: Id
    userId: Id


MESSAGE_MODELS: dict[str, type[_Message]] = {
    "track": TrackMessage,
    "identify": IdentifyMessage,
    "page": PageMessage,
    "screen": ScreenMessage,
    "group": GroupMessage,
    "alias": AliasMessage,
}
assert tuple(MESSAGE_MODELS) == MESSAGE_TYPES


class BatchBody(BaseModel):
    """Segment's batch call; context and integrations apply to every message that lacks them."""

    model_config = ConfigDict(extra="allow", json_schema_extra=_OPEN)

    batch: list[
        TrackMessage | IdentifyMessage | PageMessage | ScreenMessage | GroupMessage | AliasMessage
    ] = Field(
        max_length=MAX_BATCH_MESSAGES,
        description="The messages, each with its type; invalid ones are quarantined and "
        f"reported by index, the others stored; at most {MAX_BATCH_MESSAGES:,}",
    )
    context: Context | None = None
    integrations: JsonObject | None = None
    writeKey: StrictStr | None = None
    sentAt: Timestamp | None = None


class MessageAck(BaseModel):
    """The answer to one message: stored (committed to disk) or a retry of a stored one."""

    success: Literal[True]
    duplicate: bool


class RejectedInBatch(BaseModel):
    index: Annotated[int, Field(ge=0)] | None = Field(
        description="Position of the message in 'batch'; null for an event Relevo added to it "
        "(an e-mail link's click) that the database refused"
    )
    reason: str = Field(description="Why it was quarantined")


class BatchAck(BaseModel):
    """The answer to a batch: the valid messages are committed, the invalid ones quarantined."""

    success: Literal[True]
    accepted: int = Field(ge=0, description="Messages stored")
    duplicates: int = Field(ge=0, description="Retries of messages stored before")
    suppressed: int = Field(ge=0, description="Messages of people erased (GDPR), not stored")
    rejected: list[RejectedInBatch]


class ErrorDetail(BaseModel):
    """Besides code and message, some errors carry details (limit_bytes, retry_after ...)."""

    model_config = ConfigDict(extra="allow")

    code: str = Field(description="Stable, machine-readable, e.g. 'invalid_message'")
    message: str = Field(description="What went wrong and what to do next")


class ErrorResponse(BaseModel):
    """The one error shape of the whole API."""

    error: ErrorDetail


ERROR_DESCRIPTIONS: dict[int, str] = {
    400: "Malformed request",
    401: "Missing or unknown key",
    403: "The key may not do this",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Body too large",
    429: "Rate limited: retry after Retry-After seconds",
    500: "Unexpected server error (logged)",
    503: "Overloaded: retry with backoff (see Retry-After)",
}


def error_responses(codes: Iterable[int] | Mapping[int, str]) -> dict[int | str, dict[str, Any]]:
    """A FastAPI ``responses=`` dict: each status code answers with ``ErrorResponse``.

    ``codes`` is a list of status codes (described from ``ERROR_DESCRIPTIONS``) or a mapping of
    status code to description, as the routes' ``_RESPONSES`` dicts are.
    """
    given = dict(codes) if isinstance(codes, Mapping) else dict.fromkeys(codes, "")
    return {
        code: {
            "model": ErrorResponse,
            "description": description or ERROR_DESCRIPTIONS.get(code, "Error"),
        }
        for code, description in given.items()
    }


def _inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """Pydantic's schema with every ``#/$defs/...`` reference replaced by its definition: an
    OpenAPI document resolves ``$ref`` against the document root, where ``$defs`` is not."""
    definitions = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                target = copy.deepcopy(definitions[ref.removeprefix("#/$defs/")])
                rest = {k: v for k, v in node.items() if k != "$ref"}
                return resolve({**target, **rest})
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    return resolved


def message_schema(kind: str, *, in_batch: bool = False) -> dict[str, Any]:
    """The JSON schema of one message; sent to ``/v1/<kind>`` its ``type`` may be left out."""
    schema = _inline_refs(MESSAGE_MODELS[kind].model_json_schema())
    if not in_batch:
        schema["required"] = [field for field in schema["required"] if field != "type"]
        schema["properties"]["type"]["description"] = f"May be left out; if sent, '{kind}'"
    return schema


def batch_schema() -> dict[str, Any]:
    schema = _inline_refs(BatchBody.model_json_schema())
    schema["properties"]["batch"]["items"] = {
        "anyOf": [message_schema(kind, in_batch=True) for kind in MESSAGE_TYPES]
    }
    return schema


def _ack_schema(model: type[BaseModel]) -> dict[str, Any]:
    return _inline_refs(model.model_json_schema())


_WHO = (
    "Every call but alias names the person by a non-empty userId or anonymousId; sent with a "
    "browser source's key, by an anonymousId, or by a userId with its proof in context.relevo "
    "(userHash or identityToken)."
)


def tracking_openapi_extra(kind: str) -> dict[str, Any]:
    """The ``openapi_extra`` of the tracking route for ``kind`` (a message type, or 'batch')."""
    if kind == "batch":
        body = batch_schema()
        limit = MAX_BATCH_BYTES
        description = (
            f"Segment batch: {{batch: [message...], context?, integrations?, writeKey?, sentAt?}}, "
            f"{limit // 1024} KB at most (after gzip decoding), "
            f"{MAX_MESSAGE_BYTES // 1024} KB per message; the write key as HTTP Basic user or "
            f"as writeKey. {_WHO}"
        )
        ack = _ack_schema(BatchAck)
        ack_description = "Valid messages committed, invalid ones quarantined and reported"
    else:
        body = message_schema(kind)
        limit = MAX_MESSAGE_BYTES
        description = (
            f"One Segment '{kind}' message, {limit // 1024} KB at most (after gzip decoding); "
            f"the write key as HTTP Basic user or as writeKey. {_WHO}"
        )
        ack = _ack_schema(MessageAck)
        ack_description = "Committed to disk (or a retry of a message already stored)"
    body["x-relevo-max-bytes"] = limit
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {"application/json": {"schema": body}},
        },
        "responses": {
            "200": {
                "description": ack_description,
                "content": {"application/json": {"schema": ack}},
            }
        },
    }
