"""Accounts API (secret key): an account from Segment `group` calls, with its members."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Query

from relevo.api.auth import SecretWorkspace
from relevo.api.deps import ServicesDep
from relevo.api.responses import JSON
from relevo.api.segment_schema import error_responses
from relevo.errors import NotFound
from relevo.profiles.accounts import MAX_GROUP_CALLS, MAX_MEMBERS, account_view

router = APIRouter(prefix="/v1/groups", tags=["accounts"])

_RESPONSES = error_responses(
    {
        400: "Malformed parameter (limit)",
        401: "Missing or unknown secret key",
        403: "A write key: accounts are read with the secret key",
        404: "No group call named this groupId",
    }
)


@router.get(
    "/{group_id}",
    responses=_RESPONSES,
    summary="An account: traits from its group calls, members (most recently seen first), totals",
)
def get_account(
    group_id: str,
    workspace: SecretWorkspace,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=1000, description="Members listed (at most 1000)")] = 100,
    cursor: Annotated[
        str | None, Query(pattern=r"^\d{1,9}$", description="next_cursor of the previous page")
    ] = None,
) -> JSON:
    """Folded from the latest 20,000 group calls naming the account, totals over up to
    10,000 members (`"complete": false` says a larger account was cut there)."""
    calls = services.accounts.group_calls(workspace.id, group_id, MAX_GROUP_CALLS + 1)
    if not calls:
        raise NotFound(f"no group call has groupId {group_id!r} in this workspace")
    complete = len(calls) <= MAX_GROUP_CALLS
    calls = calls[-MAX_GROUP_CALLS:]
    latest_first = list(dict.fromkeys(c.profile_id for c in reversed(calls)))
    complete = complete and len(latest_first) <= MAX_MEMBERS
    members = services.accounts.members(workspace.id, sorted(latest_first[:MAX_MEMBERS]))
    now_ms = int(time.time() * 1000)
    page = (int(cursor or 0), limit)
    return JSON(account_view(group_id, calls, members, page, now_ms, services.lifecycle, complete))
