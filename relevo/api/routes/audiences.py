"""Audiences (secret key): saved and built-in audiences, previews before saving, members as
paged JSON or CSV. A condition is validated when saved: a 400 names the offending part."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from relevo.api.auth import SecretWorkspace
from relevo.api.deps import ServicesDep
from relevo.api.responses import JSON
from relevo.api.segment_schema import error_responses
from relevo.audiences.model import Audience
from relevo.audiences.service import MAX_PAGE
from relevo.audiences.webhook_urls import check_webhook_url
from relevo.errors import RelevoError
from relevo.identity.identities import ANONYMOUS_ID, EMAIL, USER_ID
from relevo.profiles.view import iso
from relevo.services import Services

router = APIRouter(prefix="/v1/audiences", tags=["audiences"])

_RESPONSES = error_responses(
    {
        400: "A condition that does not validate (the message names the part), a bad id, or "
        "a webhook URL to a non-public address (unsafe_webhook_url)",
        401: "Missing or unknown secret key",
        403: "A write key: audiences are read and changed with the secret key",
    }
)
_ONE = {**_RESPONSES, **error_responses({404: "No audience with this id"})}
AudienceId = Annotated[str, Path(max_length=64, description="The audience's id")]
_EXAMPLE = {"$event": {"name": "Paywall Viewed", "within": "7d", "count": {"$gte": 3}}}


class AudienceBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=2000)
    condition: dict[str, Any] = Field(
        description="A condition (README, Audiences)", examples=[_EXAMPLE]
    )
    webhook_url: str | None = Field(
        None,
        max_length=2000,
        description="Entered/Exited are posted here, signed (Standard Webhooks); the secret "
        "to verify them is in the answer's webhook.secret",
    )


class NewAudience(AudienceBody):
    id: str = Field(min_length=1, max_length=64, description="lower-case letters, digits, - _")


class PreviewBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    condition: dict[str, Any] = Field(examples=[_EXAMPLE])


def _members_view(services: Services, ids: list[int]) -> list[dict[str, Any]]:
    names = services.audiences.identities(ids)
    return [
        {
            "profile_id": pid,
            "user_id": names.get(pid, {}).get(USER_ID),
            "email": names.get(pid, {}).get(EMAIL),
            "anonymous_id": names.get(pid, {}).get(ANONYMOUS_ID),
        }
        for pid in ids
    ]


def _view(audience: Audience) -> dict[str, Any]:
    return audience.view()


PageLimit = Annotated[int, Query(ge=1, le=MAX_PAGE, description=f"At most {MAX_PAGE}")]
PageCursor = Annotated[
    str | None, Query(pattern=r"^\d{1,18}$", description="next_cursor of the previous page")
]


def _check_webhook(url: str | None, services: Services) -> None:
    """Public addresses only (relevo.audiences.webhook_urls), unless the installation allows
    its own network; checked again at each delivery."""
    if url is not None:
        check_webhook_url(url, services.settings.webhook_allow_private)


@router.post(
    "",
    status_code=201,
    responses={**_RESPONSES, **error_responses({409: "An audience with this id exists"})},
    summary="Save an audience",
)
def create_audience(body: NewAudience, workspace: SecretWorkspace, services: ServicesDep) -> JSON:
    _check_webhook(body.webhook_url, services)
    audience = services.audiences.create(
        workspace.id, body.id, body.name, body.description, body.condition, body.webhook_url
    )
    return JSON(_view(audience), status_code=201)


@router.get("", responses=_RESPONSES, summary="Built-in and saved audiences")
def list_audiences(workspace: SecretWorkspace, services: ServicesDep) -> JSON:
    return JSON({"audiences": [_view(a) for a in services.audiences.all(workspace.id)]})


@router.post(
    "/preview",
    responses=_RESPONSES,
    summary="How many profiles a condition matches now, and a sample, before saving it",
)
def preview(body: PreviewBody, workspace: SecretWorkspace, services: ServicesDep) -> JSON:
    found = services.audiences.preview(workspace.id, body.condition)
    return JSON(
        {
            "count": found.count,
            "profiles": found.profiles,
            "sample": _members_view(services, found.sample),
        }
    )


@router.get("/{audience_id}", responses=_ONE, summary="An audience")
def get_audience(
    audience_id: AudienceId, workspace: SecretWorkspace, services: ServicesDep
) -> JSON:
    return JSON(_view(services.audiences.find(workspace.id, audience_id)))


@router.put("/{audience_id}", responses=_ONE, summary="Change a saved audience")
def replace_audience(
    audience_id: AudienceId, body: AudienceBody, workspace: SecretWorkspace, services: ServicesDep
) -> JSON:
    _check_webhook(body.webhook_url, services)
    audience = services.audiences.replace(
        workspace.id, audience_id, body.name, body.description, body.condition, body.webhook_url
    )
    return JSON(_view(audience))


@router.delete(
    "/{audience_id}",
    responses={
        **_ONE,
        **error_responses({409: "Used by merchandising rules: the answer lists them"}),
    },
    summary="Delete a saved audience (refused while a rule uses it)",
)
def delete_audience(
    audience_id: AudienceId, workspace: SecretWorkspace, services: ServicesDep
) -> JSON:
    services.audiences.delete(workspace.id, audience_id)
    return JSON({"deleted": audience_id})


def _csv(services: Services, workspace_id: int, audience_id: str) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["profile_id", "user_id", "email", "anonymous_id"])
    for ids in services.audiences.all_members(workspace_id, audience_id):
        for member in _members_view(services, ids):
            writer.writerow(
                [member["profile_id"], member["user_id"], member["email"], member["anonymous_id"]]
            )
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()


@router.get(
    "/{audience_id}/members",
    responses={
        **_ONE,
        200: {
            "content": {"application/json": {}, "text/csv": {}},
            "description": "A page of members, or all of them as CSV",
        },
    },
    summary="The audience's members now: paged JSON, or CSV (format=csv)",
)
def members(
    audience_id: AudienceId,
    workspace: SecretWorkspace,
    services: ServicesDep,
    limit: PageLimit = 100,
    cursor: PageCursor = None,
    format: Annotated[str, Query(pattern="^(json|csv)$", description="json or csv")] = "json",
) -> Any:
    """Judged now over the workspace's profiles in id order; CSV holds every member."""
    if format == "csv":
        services.audiences.find(workspace.id, audience_id)  # a 404 before the stream starts
        return StreamingResponse(
            _csv(services, workspace.id, audience_id),
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{audience_id}.csv"'},
        )
    after = 0
    if cursor:
        if not cursor.isdigit():
            raise RelevoError("cursor must be the next_cursor value of a previous page")
        after = int(cursor)
    ids, next_after = services.audiences.members(workspace.id, audience_id, limit, after)
    return JSON(
        {
            "members": _members_view(services, ids),
            "next_cursor": None if next_after is None else str(next_after),
        }
    )


@router.get(
    "/{audience_id}/deliveries",
    responses=_ONE,
    summary="The audience's webhook deliveries, newest first: status, attempts, last error",
)
def deliveries(
    audience_id: AudienceId,
    workspace: SecretWorkspace,
    services: ServicesDep,
    limit: PageLimit = 100,
    cursor: PageCursor = None,
) -> JSON:
    services.audiences.find(workspace.id, audience_id)
    rows = services.audience_job.store.deliveries(
        workspace.id, audience_id, limit, int(cursor) if cursor else None
    )
    return JSON(
        {
            "deliveries": [
                {
                    "webhook_id": r["message_id"],
                    "profile_id": r["profile_id"],
                    "message": r["payload"],
                    "status": r["status"],
                    "attempts": r["attempts"],
                    "next_attempt_at": iso(r["next_attempt_at"])
                    if r["status"] == "pending"
                    else None,
                    "last_error": r["last_error"],
                    "created_at": iso(r["created_at"]),
                    "delivered_at": iso(r["delivered_at"]),
                }
                for r in rows
            ],
            "next_cursor": str(rows[-1]["id"]) if len(rows) == limit else None,
        }
    )
