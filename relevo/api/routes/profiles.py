"""Profile and privacy API (secret key): profile, timeline, merges, counts, GDPR export/erase."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from relevo.api.auth import SecretWorkspace
from relevo.api.deps import ServicesDep
from relevo.api.responses import JSON
from relevo.api.segment_schema import error_responses
from relevo.audiences.context import request_context
from relevo.errors import NotFound, RelevoError
from relevo.identity.identities import normalise_lookup
from relevo.profiles.event_counts import (
    MAX_EVENTS_COUNTED,
    count_matching,
    parse_conditions,
    window_start,
)
from relevo.profiles.records import Person
from relevo.profiles.view import iso, profile_view
from relevo.services import Services
from relevo.workspaces.keys import Workspace

router = APIRouter(prefix="/v1/profiles", tags=["profiles"])

_RESPONSES = error_responses(
    {
        400: "Not a valid identity, or a malformed parameter (limit, cursor, days, where)",
        401: "Missing or unknown secret key",
        403: "A write key: profiles are read with the secret key",
        404: "No profile has this identity",
    }
)
MAX_PAGE = 1000


def _identity(kind: str, value: str) -> tuple[str, str]:
    identity = normalise_lookup(kind, value)
    if identity is None:
        raise RelevoError(f"{value!r} is not a valid {kind}")
    return identity


def _no_profile(identity: tuple[str, str]) -> NotFound:
    return NotFound(f"no profile has {identity[0]} {identity[1]!r} in this workspace")


def _person(services: Services, workspace: Workspace, kind: str, value: str) -> Person:
    identity = _identity(kind, value)
    person = services.people.find(workspace.id, identity)
    if person is None:
        raise _no_profile(identity)
    return person


def _now_ms() -> int:
    return int(time.time() * 1000)


def _event_view(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": row["type"],
        "event": row["event"],
        "message_id": row["message_id"],
        "timestamp": iso(row["timestamp"]),
        "received_at": iso(row["received_at"]),
        "message": row["payload"],
    }


@router.get("/{kind}/{value}", responses=_RESPONSES, summary="A person's profile")
def get_profile(kind: str, value: str, workspace: SecretWorkspace, services: ServicesDep) -> JSON:
    person = _person(services, workspace, kind, value)
    view = profile_view(person, _now_ms(), services.rules, services.lifecycle)
    # What `relevo train` computed (segment, propensity, lifetime value: relevo.scores).
    return JSON({**view, "scores": services.scores.document(workspace.id, person.profile_id)})


PageSize = Annotated[int, Query(ge=1, le=MAX_PAGE, description=f"At most {MAX_PAGE}")]
Cursor = Annotated[str | None, Query(description="next_cursor of the previous page")]


def _cursor(cursor: str | None, parts: int) -> list[int] | None:
    if not cursor:
        return None
    try:
        values = [int(part) for part in cursor.split(":")]
    except ValueError:
        values = []
    if len(values) != parts:
        raise RelevoError("cursor must be the next_cursor value of a previous page")
    return values


def _pair(cursor: str | None) -> tuple[int, int] | None:
    """A (time, id) cursor."""
    values = _cursor(cursor, 2)
    return None if values is None else (values[0], values[1])


@router.get("/{kind}/{value}/events", responses=_RESPONSES, summary="Timeline, newest first")
def get_events(
    kind: str,
    value: str,
    workspace: SecretWorkspace,
    services: ServicesDep,
    limit: PageSize = 100,
    cursor: Cursor = None,
) -> JSON:
    person = _person(services, workspace, kind, value)
    rows = services.people.events(person, limit, _pair(cursor))
    next_cursor = f"{rows[-1]['timestamp']}:{rows[-1]['seq']}" if len(rows) == limit else None
    return JSON({"events": [_event_view(r) for r in rows], "next_cursor": next_cursor})


@router.get("/{kind}/{value}/merges", responses=_RESPONSES, summary="Merge history, oldest first")
def get_merges(
    kind: str,
    value: str,
    workspace: SecretWorkspace,
    services: ServicesDep,
    limit: PageSize = 100,
    cursor: Cursor = None,
) -> JSON:
    person = _person(services, workspace, kind, value)
    after = _cursor(cursor, 1)
    merges = services.people.merges(person, limit, after[0] if after else None)
    next_cursor = str(merges[-1]["id"]) if len(merges) == limit else None
    for merge in merges:
        merge["created_at"] = iso(merge["created_at"])
        del merge["id"]
    return JSON({"profile_id": person.profile_id, "merges": merges, "next_cursor": next_cursor})


@router.get("/{kind}/{value}/traits/history", responses=_RESPONSES, summary="Trait changes")
def get_trait_history(
    kind: str,
    value: str,
    workspace: SecretWorkspace,
    services: ServicesDep,
    limit: PageSize = 100,
    cursor: Cursor = None,
) -> JSON:
    person = _person(services, workspace, kind, value)
    changes = services.people.trait_history(person, limit, _pair(cursor))
    next_cursor = (
        f"{changes[-1]['timestamp']}:{changes[-1]['id']}" if len(changes) == limit else None
    )
    for change in changes:
        change["timestamp"] = iso(change["timestamp"])
        del change["id"]
    return JSON({"changes": changes, "next_cursor": next_cursor})


@router.get(
    "/{kind}/{value}/event-count",
    responses=_RESPONSES,
    summary="Count of events named X (with property conditions) in a window or this session",
)
def get_event_count(
    kind: str,
    value: str,
    workspace: SecretWorkspace,
    services: ServicesDep,
    event: Annotated[str, Query(max_length=255, description="event name, e.g. 'Product Viewed'")],
    days: Annotated[
        float | None, Query(gt=0, le=36_500, description="only the last N days")
    ] = None,
    session: Annotated[bool, Query(description="only the current session")] = False,
    where: Annotated[
        str | None,
        Query(max_length=4000, description='JSON conditions, e.g. {"price":{"$gte":50}}'),
    ] = None,
) -> JSON:
    """Exact up to the latest 10,000 events of that name in the window; beyond that the count
    says `"exact": false` (behaviour counters that need no scan come with audiences)."""
    person = _person(services, workspace, kind, value)
    conditions = parse_conditions(where)
    now = _now_ms()
    since = window_start(person.computed, now, days, session, services.rules.session_timeout_ms)
    rows = services.people.events(person, MAX_EVENTS_COUNTED + 1, name=event, since_ms=since)
    exact = len(rows) <= MAX_EVENTS_COUNTED
    count = count_matching((r["payload"] for r in rows[:MAX_EVENTS_COUNTED]), conditions)
    return JSON(
        {
            "event": event,
            "count": count,
            "exact": exact,
            "since": iso(since),
            "conditions": conditions.source if conditions is not None else {},
        }
    )


CONTEXT_EXAMPLE = (
    '{"page": {"url": "..."}, "userAgent": "...", "country": "DE", "timezone": '
    '"Europe/Berlin", "product": {...}, "cart": {...}}'
)
MAX_CONTEXT_BYTES = 65_536  # a POSTed context; a GET's is at most 4,000 characters
AllAudiences = Annotated[
    bool, Query(description="Also list the audiences they are not in, with why not")
]


class AudiencesBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    context: dict[str, Any] | None = Field(
        None,
        description=f"The request, as GET's `context`, e.g. {CONTEXT_EXAMPLE}; at most "
        f"{MAX_CONTEXT_BYTES // 1024} KB as JSON",
    )


@router.get(
    "/{kind}/{value}/audiences",
    responses=_RESPONSES,
    summary="The person's audiences now, each with why",
)
async def get_audiences(
    kind: str,
    value: str,
    workspace: SecretWorkspace,
    services: ServicesDep,
    context: Annotated[
        str | None,
        Query(
            max_length=4000,  # 4-byte characters URL-encoded stay under the HTTP parser's limit
            description=f"The request as JSON, e.g. {CONTEXT_EXAMPLE}; a longer one: POST "
            'the same path with {"context": {...}}',
        ),
    ] = None,
    all: AllAudiences = False,
) -> JSON:
    raw: Any = None
    if context:
        try:
            raw = orjson.loads(context)
        except orjson.JSONDecodeError:
            raise RelevoError("context is not valid JSON") from None
        if not isinstance(raw, dict):
            raise RelevoError("context must be a JSON object")
    return await _audiences(kind, value, workspace, services, raw, all)


@router.post(
    "/{kind}/{value}/audiences",
    responses=_RESPONSES,
    summary="The person's audiences now, each with why, for a request context in the body",
)
async def post_audiences(
    kind: str,
    value: str,
    body: AudiencesBody,
    workspace: SecretWorkspace,
    services: ServicesDep,
    all: AllAudiences = False,
) -> JSON:
    """As GET, with the context as JSON in the body (`{"context": {...}}`): a context too long
    for a URL (a large cart) fits here."""
    if body.context is not None:
        try:
            size = len(orjson.dumps(body.context))
        except orjson.JSONEncodeError:  # an integer beyond 64 bits (the fuzzer sent one)
            raise RelevoError("context: integers must be within signed 64 bits") from None
        if size > MAX_CONTEXT_BYTES:
            raise RelevoError(f"context is over {MAX_CONTEXT_BYTES // 1024} KB as JSON")
    return await _audiences(kind, value, workspace, services, body.context, all)


async def _audiences(
    kind: str,
    value: str,
    workspace: Workspace,
    services: Services,
    raw: dict[str, Any] | None,
    all: bool,
) -> JSON:
    # On the event loop (the routes are async, as recommendations): ~0.2 ms of judging, where
    # the thread pool's round trip and threads contending for the interpreter made the tail at
    # 500 requests/s. The read is SQLite's short local one, or awaited from PostgreSQL.
    identity = _identity(kind, value)
    now = _now_ms()
    request = request_context(raw, now) if raw is not None else None
    found = await services.audiences.of_identity(workspace.id, *identity, now, request)
    if found is None:
        raise _no_profile(identity)
    profile_id, judged = found
    return JSON(
        {
            "profile_id": profile_id,
            "audiences": [
                {
                    "id": m.audience.id,
                    "name": m.audience.name,
                    "builtin": m.audience.builtin,
                    **({"member": m.matched} if all else {}),
                    "why": m.why,
                }
                for m in judged
                if all or m.matched
            ],
        }
    )


@router.get(
    "/{kind}/{value}/export",
    responses={
        **_RESPONSES,
        200: {"content": {"application/x-ndjson": {}}, "description": "One JSON record a line"},
    },
    response_class=StreamingResponse,
    summary="GDPR export: everything stored, streamed as NDJSON",
)
def export(kind: str, value: str, workspace: SecretWorkspace, services: ServicesDep) -> Any:
    """One JSON object a line, `{"record": kind, "data": {...}}`: first `export` (when), then
    `profile` (each of the person's profiles, as stored, and `profile_view` as the API shows
    it), `identity`, `event`, `merge`, `trait_change`, `claim_made` (identities their
    messages asserted without proof), `claim_naming_them` (other visitors' messages that
    claimed to be them) and `quarantined_message`. Streamed: any size, constant memory."""
    person = _person(services, workspace, kind, value)
    now = _now_ms()
    view = profile_view(person, now, services.rules, services.lifecycle)

    def lines() -> Iterator[bytes]:
        yield _line("export", {"exported_at": iso(now), "profile_id": person.profile_id})
        yield _line("profile_view", view)
        for record, data in services.people.export_records(person):
            yield _line(record, data)

    return StreamingResponse(lines(), media_type="application/x-ndjson")


def _line(record: str, data: dict[str, Any]) -> bytes:
    return orjson.dumps(
        {"record": record, "data": data},
        option=orjson.OPT_APPEND_NEWLINE | orjson.OPT_NON_STR_KEYS,
    )


@router.delete(
    "/{kind}/{value}",
    responses={code: r for code, r in _RESPONSES.items() if code != 404},  # erasing nobody is a 200
    summary="GDPR erase: delete the person and all their data, trained models included",
)
def erase(
    kind: str,
    value: str,
    workspace: SecretWorkspace,
    services: ServicesDep,
    suppress: Annotated[
        bool,
        Query(
            description="Also keep a keyed hash of their identities so that later messages "
            "naming them are refused and counted, never stored (Segment's SUPPRESS_WITH_DELETE)"
        ),
    ] = False,
) -> JSON:
    identity = _identity(kind, value)
    erased = services.erase(workspace.id, identity, suppress)
    return JSON(
        {
            "erased": bool(erased.profile_ids),
            "deleted": erased.deleted,
            "suppressed_identities": erased.suppressed,
            "model_versions_rewritten": erased.models_rewritten,
        }
    )
