"""E-mail-link identification (secret key): signed, expiring tokens to put in e-mail links.

A visitor who opens a tracked page whose URL carries ``?rlv=<token>`` (or sends the token as
``context.relevo.linkToken``) is linked to the profile the token was issued for, and an
``Email Link Clicked`` event is recorded. Tokens name an internal profile id, nothing personal;
they grant identification, never a read; rotating the workspace's link secret revokes them all.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, model_validator

from relevo.api.auth import SecretWorkspace
from relevo.api.deps import ServicesDep
from relevo.api.responses import JSON
from relevo.api.segment_schema import error_responses
from relevo.errors import NotFound, RelevoError
from relevo.identity.identities import Identity, normalise_lookup
from relevo.identity.proofs import LINK_PARAMETER, MAX_LINK_DAYS, link_token
from relevo.profiles.view import iso

router = APIRouter(prefix="/v1/identity-links", tags=["identity"])

MAX_LINKS = 10_000
_RESPONSES = error_responses(
    {
        400: "Malformed request",
        401: "Missing or unknown secret key",
        403: "Not the secret key",
        404: "One identity asked for, and no profile has it (a list reports them in unknown)",
    }
)


class LinkIdentity(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: str = Field(description="user_id, email, phone, anonymous_id or a custom kind")
    value: str = Field(min_length=1, max_length=255)


class LinksIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    identity: LinkIdentity | None = Field(None, description="One person")
    identities: list[LinkIdentity] | None = Field(
        None, max_length=MAX_LINKS, description=f"A mailing list, at most {MAX_LINKS:,}"
    )
    expires_in_days: int = Field(30, ge=1, le=MAX_LINK_DAYS)
    url: str | None = Field(
        None,
        max_length=2000,
        description="A page URL to return with the token added as the rlv parameter",
    )

    @model_validator(mode="after")
    def _one_of(self) -> LinksIn:
        if (self.identity is None) == (self.identities is None):
            raise ValueError("give either 'identity' or 'identities'")
        return self


def _with_token(url: str, token: str) -> str:
    base, _, fragment = url.partition("#")
    joiner = "&" if "?" in base else "?"
    return f"{base}{joiner}{LINK_PARAMETER}={token}" + (f"#{fragment}" if fragment else "")


@router.post("", responses=_RESPONSES, summary="Tokens that identify an e-mail's recipient")
def issue_links(body: LinksIn, workspace: SecretWorkspace, services: ServicesDep) -> JSON:
    wanted = [body.identity] if body.identity is not None else list(body.identities or [])
    lookups: list[Identity | None] = [normalise_lookup(i.kind, i.value) for i in wanted]
    found = services.people.profile_ids(workspace.id, [i for i in lookups if i is not None])
    expires_at = int(time.time()) + body.expires_in_days * 86_400
    secret = services.workspaces.trust_keys(workspace.id).link_secret
    links, unknown = [], []
    for index, (given, identity) in enumerate(zip(wanted, lookups, strict=True)):
        if identity is None:
            unknown.append(
                {"index": index, "reason": f"{given.value!r} is not a valid {given.kind}"}
            )
            continue
        profile = found.get(identity)
        if profile is None:
            unknown.append(
                {"index": index, "reason": f"no profile has {identity[0]} {identity[1]!r}"}
            )
            continue
        token = link_token(secret, profile, expires_at)
        link: dict[str, Any] = {"index": index, "token": token}
        if body.url:
            link["url"] = _with_token(body.url, token)
        links.append(link)
    if body.identity is not None and unknown:
        reason = str(unknown[0]["reason"])
        raise NotFound(reason) if lookups[0] is not None else RelevoError(reason)
    return JSON(
        {
            "parameter": LINK_PARAMETER,
            "expires_at": iso(expires_at * 1000),
            "links": links,
            "unknown": unknown,
        }
    )
