"""Profile and privacy API (secret key): profile, timeline, merges, counts, GDPR export/erase."""

from __future__ import annotations

import time
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query

from relevo.api.auth import SecretWorkspace
from relevo.api.deps import ServicesDep
from relevo.api.responses import JSON
from relevo.errors import NotFound, RelevoError
from relevo.identity.identities import normalise_lookup
from relevo.profiles.event_counts import count_matching, validate_conditions
from relevo.profiles.records import Person
from relevo.profiles.view import iso, profile_view
from relevo.services import Services
from relevo.workspaces.keys import Workspace

router = APIRouter(prefix="/v1/profiles", tags=["profiles"])

_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or unknown secret key"},
    404: {"description": "No profile has this identity"},
}
DAY_MS = 86_400_000


def _person(services: Services, workspace: Workspace, kind: str, value: str) -> Person:
    identity = normalise_lookup(kind, value)
    if identity is None:
        raise RelevoError(f"{value!r} is not a valid {kind}")
    person = services.people.find(workspace.id, identity)
    if person is None:
        raise NotFound(f"no profile has {identity[0]} {identity[1]!r} in this workspace")
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
    return JSON(profile_view(person, _now_ms(), services.rules, services.lifecycle))


@router.get("/{kind}/{value}/events", responses=_RESPONSES, summary="Timeline, newest first")
def get_events(
    kind: str,
    value: str,
    workspace: SecretWorkspace,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
) -> JSON:
    person = _person(services, workspace, kind, value)
    before = None
    if cursor:
        try:
            ts, seq = (int(part) for part in cursor.split(":"))
        except ValueError:
            raise RelevoError("cursor must be the next_cursor value of a previous page") from None
        before = (ts, seq)
    rows = services.people.events(person, limit, before)
    next_cursor = f"{rows[-1]['timestamp']}:{rows[-1]['seq']}" if len(rows) == limit else None
    return JSON({"events": [_event_view(r) for r in rows], "next_cursor": next_cursor})


@router.get("/{kind}/{value}/merges", responses=_RESPONSES, summary="Merge history")
def get_merges(kind: str, value: str, workspace: SecretWorkspace, services: ServicesDep) -> JSON:
    person = _person(services, workspace, kind, value)
    merges = services.people.merges(person)
    for merge in merges:
        merge["created_at"] = iso(merge["created_at"])
    return JSON({"profile_id": person.profile_id, "merges": merges})


@router.get("/{kind}/{value}/traits/history", responses=_RESPONSES, summary="Trait changes")
def get_trait_history(
    kind: str, value: str, workspace: SecretWorkspace, services: ServicesDep
) -> JSON:
    person = _person(services, workspace, kind, value)
    changes = services.people.trait_history(person)
    for change in changes:
        change["timestamp"] = iso(change["timestamp"])
    return JSON({"changes": changes})


@router.get(
    "/{kind}/{value}/event-count",
    responses=_RESPONSES,
    summary="Exact count of events named X (with property conditions) in a window or session",
)
def get_event_count(
    kind: str,
    value: str,
    workspace: SecretWorkspace,
    services: ServicesDep,
    event: Annotated[str, Query(description="event name, e.g. 'Product Viewed'")],
    days: Annotated[float | None, Query(gt=0, description="only the last N days")] = None,
    session: Annotated[bool, Query(description="only the current session")] = False,
    where: Annotated[
        str | None, Query(description='JSON conditions, e.g. {"price":{"$gte":50}}')
    ] = None,
) -> JSON:
    person = _person(services, workspace, kind, value)
    conditions: dict[str, Any] = {}
    if where:
        try:
            conditions = validate_conditions(orjson.loads(where))
        except orjson.JSONDecodeError:
            raise RelevoError("'where' is not valid JSON") from None
    since = None
    now = _now_ms()
    if days is not None:
        since = now - int(days * DAY_MS)
    if session:
        started = person.computed.get("session_started_at")
        last_seen = person.computed.get("last_seen") or 0
        timeout = services.rules.session_timeout_ms
        # A session that timed out has no events "in this session" any more.
        session_start = started if started is not None and now - last_seen <= timeout else now
        since = max(since or 0, session_start)
    rows = services.people.events(person, 1_000_000, name=event, since_ms=since)
    count = count_matching((r["payload"] for r in rows), conditions)
    return JSON({"event": event, "count": count, "since": iso(since), "conditions": conditions})


@router.get(
    "/{kind}/{value}/export", responses=_RESPONSES, summary="GDPR export: everything stored"
)
def export(kind: str, value: str, workspace: SecretWorkspace, services: ServicesDep) -> JSON:
    person = _person(services, workspace, kind, value)
    people = services.people
    return JSON(
        {
            "exported_at": iso(_now_ms()),
            "profile": profile_view(person, _now_ms(), services.rules, services.lifecycle),
            "events": [_event_view(r) for r in people.events(person, 10_000_000)],
            "merges": people.merges(person),
            "trait_history": people.trait_history(person),
            "quarantined_messages": people.quarantined(person),
        }
    )


@router.delete("/{kind}/{value}", summary="GDPR erase: delete the person and all their data")
def erase(kind: str, value: str, workspace: SecretWorkspace, services: ServicesDep) -> JSON:
    identity = normalise_lookup(kind, value)
    if identity is None:
        raise RelevoError(f"{value!r} is not a valid {kind}")
    deleted = services.people.erase(workspace.id, identity)
    return JSON({"erased": deleted["profiles"] > 0, "deleted": deleted})
