"""The Segment HTTP Tracking API: existing Segment and RudderStack clients work unchanged."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request

from relevo.api.deps import ServicesDep, basic_auth_user
from relevo.api.responses import JSON
from relevo.errors import AuthError, InvalidMessage
from relevo.tracking.ingest import decode_body, parse_json_object, split_batch
from relevo.tracking.jobs import IngestJob
from relevo.tracking.messages import (
    MAX_BATCH_BYTES,
    MAX_MESSAGE_BYTES,
    MESSAGE_TYPES,
    TrackedMessage,
    validate_message,
)
from relevo.workspaces.keys import Workspace

router = APIRouter(prefix="/v1", tags=["tracking"])

_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"description": "Not JSON, or a message that breaks the spec (it is quarantined)"},
    401: {"description": "Missing or unknown write key"},
    413: {"description": "Over 32 KB per message or 500 KB per batch"},
    503: {"description": "Overloaded: retry with backoff"},
}


def _body_schema(description: str) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    }


def _workspace(request: Request, services: ServicesDep, data: dict[str, Any]) -> Workspace:
    key = basic_auth_user(request) or data.get("writeKey")
    if not isinstance(key, str) or not key:
        raise AuthError("send the write key as HTTP Basic user name or as 'writeKey' in the body")
    workspace = services.workspaces.by_write_key(key)
    if workspace is None:
        raise AuthError("unknown write key")
    return workspace


def _now_ms() -> int:
    return int(time.time() * 1000)


@router.post(
    "/batch",
    responses=_RESPONSES,
    openapi_extra=_body_schema(
        "Segment batch: {batch: [message...], context?, integrations?, writeKey?, sentAt?}"
    ),
    summary="Send up to 500 KB of messages; invalid ones are quarantined and reported by index",
)
async def batch(request: Request, services: ServicesDep) -> JSON:
    body = decode_body(
        await request.body(), request.headers.get("content-encoding"), MAX_BATCH_BYTES
    )
    data = parse_json_object(body)
    workspace = _workspace(request, services, data)
    accepted, rejected = split_batch(data, _now_ms(), len(body))
    result = await services.writer.submit(IngestJob(workspace.id, accepted, rejected))
    return JSON(
        {
            "success": True,
            "accepted": result.stored,
            "duplicates": result.duplicates,
            "rejected": [{"index": r.index, "reason": r.reason} for r in rejected],
        }
    )


async def _single(request: Request, services: ServicesDep, kind: str) -> JSON:
    body = decode_body(
        await request.body(), request.headers.get("content-encoding"), MAX_MESSAGE_BYTES
    )
    data = parse_json_object(body)
    workspace = _workspace(request, services, data)
    result = validate_message(data, _now_ms(), implied_type=kind, max_bytes=None)
    if isinstance(result, TrackedMessage):
        stored = await services.writer.submit(IngestJob(workspace.id, [result], []))
        return JSON({"success": True, "duplicate": stored.duplicates > 0})
    await services.writer.submit(IngestJob(workspace.id, [], [result]))
    raise InvalidMessage(f"{result.reason} (the message was quarantined)")


def _add_single_route(kind: str) -> None:
    async def endpoint(request: Request, services: ServicesDep) -> JSON:
        return await _single(request, services, kind)

    endpoint.__name__ = kind
    router.add_api_route(
        f"/{kind}",
        endpoint,
        methods=["POST"],
        responses=_RESPONSES,
        openapi_extra=_body_schema(f"One Segment '{kind}' message (32 KB at most)"),
        summary=f"Send one {kind} message",
    )


for _kind in MESSAGE_TYPES:
    _add_single_route(_kind)
