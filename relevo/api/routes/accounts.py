"""Accounts API (secret key): an account from Segment `group` calls, with its members."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Query

from relevo.api.auth import SecretWorkspace
from relevo.api.deps import ServicesDep
from relevo.api.responses import JSON
from relevo.errors import NotFound
from relevo.profiles.accounts import account_view

router = APIRouter(prefix="/v1/groups", tags=["accounts"])

_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or unknown secret key"},
    404: {"description": "No group call named this groupId"},
}


@router.get(
    "/{group_id}",
    responses=_RESPONSES,
    summary="An account: traits from its group calls, members (most recently seen first), totals",
)
def get_account(
    group_id: str,
    workspace: SecretWorkspace,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=1000, description="Members listed")] = 100,
) -> JSON:
    calls = services.accounts.group_calls(workspace.id, group_id)
    if not calls:
        raise NotFound(f"no group call has groupId {group_id!r} in this workspace")
    members = services.accounts.members(workspace.id, sorted({c.profile_id for c in calls}))
    now_ms = int(time.time() * 1000)
    return JSON(account_view(group_id, calls, members, limit, now_ms, services.lifecycle))
