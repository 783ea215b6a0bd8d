"""The Segment HTTP Tracking API: existing Segment and RudderStack clients work unchanged."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request

from relevo.api.auth import authenticate, require
from relevo.api.deps import ServicesDep
from relevo.api.responses import JSON
from relevo.api.segment_schema import error_responses, tracking_openapi_extra
from relevo.errors import InvalidMessage
from relevo.services import Services
from relevo.tracking.ingest import (
    batch_answer,
    parse_json_object,
    quarantine_in_full,
    read_body,
    split_batch,
)
from relevo.tracking.jobs import IngestJob
from relevo.tracking.messages import (
    MAX_BATCH_BYTES,
    MAX_MESSAGE_BYTES,
    MESSAGE_TYPES,
    RejectedMessage,
    TrackedMessage,
    validate_message,
)
from relevo.tracking.trust import TrustPolicy, Untrusted, apply_trust
from relevo.tracking.writer import refused_by_store
from relevo.workspaces.keys import SOURCE_KINDS, KeyKind, Principal

router = APIRouter(prefix="/v1", tags=["tracking"])

_RESPONSES = error_responses(
    {
        400: "Not JSON, or a message that breaks the spec (it is quarantined)",
        401: "Missing or unknown write key",
        403: "The secret key reads; events are sent with a source's write key",
        413: "Over 32 KB per message or 500 KB per batch",
        429: "Rate limited: retry after Retry-After seconds",
        503: "The database is unavailable: retry with backoff",
    }
)


def _now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True)
class _Tracked:
    principal: Principal
    data: dict[str, Any]
    size: int


async def _read(request: Request, services: Services, limit: int) -> _Tracked:
    body = await read_body(request, limit)
    data = parse_json_object(body)
    principal = authenticate(request, services, data.get("writeKey"))
    require(principal, SOURCE_KINDS, "send events")
    return _Tracked(principal, data, len(body))


def _policy(services: Services, principal: Principal) -> TrustPolicy:
    return TrustPolicy(
        trusted=principal.kind is not KeyKind.BROWSER,
        keys=services.workspaces.trust_keys(principal.workspace.id),
        now_s=time.time(),
    )


def _trusted(
    messages: list[TrackedMessage], indexes: list[int | None], policy: TrustPolicy
) -> tuple[list[TrackedMessage], list[int | None], list[RejectedMessage]]:
    """Apply the source's trust policy; a message left with no identity of its own is
    quarantined with the reason (reported at its index in the batch). Also returns the batch
    index of each kept message (a message may bring an extra event)."""
    kept: list[TrackedMessage] = []
    kept_indexes: list[int | None] = []
    rejected: list[RejectedMessage] = []
    for index, message in zip(indexes, messages, strict=True):
        outcome = apply_trust(message, policy)
        if isinstance(outcome, Untrusted):
            rejected.append(
                RejectedMessage(
                    index,
                    outcome.reason,
                    message.payload,
                    message.message_id,
                    message.anonymous_id,
                    message.user_id,
                )
            )
        else:
            kept.extend(outcome)
            kept_indexes.extend([index] * len(outcome))
    return kept, kept_indexes, rejected


@router.post(
    "/batch",
    responses=_RESPONSES,
    openapi_extra=tracking_openapi_extra("batch"),
    summary="Send up to 500 KB of messages; invalid ones are quarantined and reported by index",
)
async def batch(request: Request, services: ServicesDep) -> JSON:
    tracked = await _read(request, services, MAX_BATCH_BYTES)
    split = split_batch(tracked.data, _now_ms(), tracked.size)
    policy = _policy(services, tracked.principal)
    accepted, indexes, untrusted = _trusted(split.accepted, split.indexes(), policy)
    rejected = sorted([*split.rejected, *untrusted], key=lambda r: r.index or 0)
    workspace = tracked.principal.workspace
    job = IngestJob(workspace.id, accepted, quarantine_in_full(rejected))
    result = await services.writer.submit(job)
    return JSON(batch_answer(result, rejected, indexes))


async def _single(request: Request, services: ServicesDep, kind: str) -> JSON:
    tracked = await _read(request, services, MAX_MESSAGE_BYTES)
    workspace = tracked.principal.workspace
    result = validate_message(tracked.data, _now_ms(), implied_type=kind, max_bytes=None)
    if isinstance(result, TrackedMessage):
        accepted, _, untrusted = _trusted([result], [None], _policy(services, tracked.principal))
        if accepted:
            stored = await services.writer.submit(IngestJob(workspace.id, accepted, []))
            refused = refused_by_store(stored)  # by the database, after validation
            if refused:
                raise InvalidMessage(f"{refused[0][1]} (the message was quarantined)")
            return JSON({"success": True, "duplicate": stored.duplicates > 0})
        result = untrusted[0]
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
        openapi_extra=tracking_openapi_extra(kind),
        summary=f"Send one {kind} message",
    )


for _kind in MESSAGE_TYPES:
    _add_single_route(_kind)
