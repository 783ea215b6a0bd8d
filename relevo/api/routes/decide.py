"""Decisions (`POST /v1/decide`), their feedback (`POST /v1/decide/events`) and the refused
decision tokens (`GET /v1/decide/refusals`).

A page decides with its browser key (HTTP Basic, or ``writeKey`` in a text/plain JSON body, a
simple request with no preflight) for its own visitor only: their ``anonymousId``, and the
user id an ``identityToken`` proves. A shop's server decides with the secret key for anyone
(``identity``: an e-mail, a phone, a loyalty card, a user id), in any channel, with ``debug``.
"""

from __future__ import annotations

import time
from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from relevo.api.auth import SecretWorkspace, authenticate, require
from relevo.api.deps import ServicesDep
from relevo.api.responses import JSON
from relevo.api.segment_schema import _inline_refs, error_responses
from relevo.decide.feedback import MAX_EVENTS, FeedbackRequest, Reported
from relevo.decide.service import MAX_PLACEMENTS, PROFILE_ID, DecideRequest
from relevo.decide.tokens import MAX_TOKEN_CHARS
from relevo.errors import Forbidden, RelevoError
from relevo.experiences.model import Channel
from relevo.identity.identities import ANONYMOUS_ID, USER_ID, Identity, normalise_lookup
from relevo.identity.proofs import verify_identity_token, verify_link_token
from relevo.profiles.view import iso
from relevo.recs.errors import IdentityNotAllowed
from relevo.services import Services
from relevo.storable import replace_unstorable
from relevo.tracking.ingest import parse_json_object, read_body
from relevo.workspaces.keys import KeyKind, Principal

router = APIRouter(prefix="/v1/decide")

MAX_BODY_BYTES = 64_000
_RESPONSES = error_responses(
    {
        400: "Malformed body: the message names the part",
        401: "Missing or unknown key",
        403: "A browser key asking for another identity, another channel or debug; a server "
        "write key (decisions are asked with a browser key or the secret key)",
        413: "Over 64 KB",
        429: "Rate limited (browser key): retry after Retry-After seconds",
    }
)


class IdentityIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: str = Field(
        min_length=1, max_length=40, description="email, phone, user_id, loyalty_card, ..."
    )
    value: str = Field(min_length=1, max_length=255)


class DecideIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    writeKey: str | None = Field(None, max_length=255, description="A browser key, in the body")
    anonymousId: str | None = Field(None, min_length=1, max_length=255)
    identityToken: str | None = Field(
        None, max_length=4096, description="The trust rules' JWT proving the visitor's userId"
    )
    linkToken: str | None = Field(
        None,
        max_length=512,
        description="The `rlv` token of the e-mail link the visitor arrived by: this page's "
        "decision is for the customer it was sent to (later pages know them anyway)",
    )
    identity: IdentityIn | None = Field(None, description="Secret key only: anyone, by any kind")
    channel: Channel = "web"
    context: dict[str, Any] = Field(
        default_factory=dict,
        description="Segment's context (page, campaign, userAgent, timezone) with the product "
        "in view and the cart",
    )
    placements: list[str] = Field(min_length=1, max_length=MAX_PLACEMENTS)
    debug: bool = Field(False, description="Why each experience won or lost (secret key only)")


class EventIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token: str = Field(max_length=MAX_TOKEN_CHARS)
    type: Literal["impression", "click", "dismiss", "submit", "conversion"]
    properties: dict[str, Any] = Field(default_factory=dict)


class EventsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    writeKey: str | None = Field(None, max_length=255)
    anonymousId: str | None = Field(None, min_length=1, max_length=255)
    identity: IdentityIn | None = None
    events: list[EventIn] = Field(min_length=1, max_length=MAX_EVENTS)


def _body(model: type[BaseModel], description: str) -> dict[str, Any]:
    """The request body as OpenAPI shows it: read by the route itself (a text/plain body
    carrying the key is a page's simple request), so declared here."""
    schema = _inline_refs(model.model_json_schema())
    schema["x-relevo-max-bytes"] = MAX_BODY_BYTES
    content = {"application/json": {"schema": schema}, "text/plain": {"schema": schema}}
    return {"requestBody": {"required": True, "description": description, "content": content}}


def _now_ms() -> int:
    return int(time.time() * 1000)


def _problems(error: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in error.errors()[:5]
    )


async def _read(request: Request, services: Services, action: str) -> tuple[Principal, Any]:
    data = parse_json_object(await read_body(request, MAX_BODY_BYTES))
    principal = authenticate(request, services, data.get("writeKey"))
    require(principal, (KeyKind.BROWSER, KeyKind.SECRET), action)
    return principal, data


def _given_identity(given: IdentityIn) -> Identity:
    identity = normalise_lookup(given.kind, given.value)
    if identity is None:
        raise RelevoError(f"identity: {given.value[:100]!r} is not a valid {given.kind[:40]}")
    return identity


def _anonymous(value: str | None) -> Identity | None:
    return None if value is None else (ANONYMOUS_ID, replace_unstorable(value))


def _visitor(
    caller: Principal, anonymous_id: str | None, identity: IdentityIn | None
) -> tuple[Identity, tuple[Identity, ...]]:
    """The identity the decision is for and how to find the person (strongest first)."""
    anonymous = _anonymous(anonymous_id)
    if caller.kind is KeyKind.BROWSER:
        if identity is not None:
            raise IdentityNotAllowed(
                "with a browser key, decide only for the visitor's own anonymousId (and the "
                "userId an identityToken proves); other identities need the secret key"
            )
        if anonymous is None:
            raise RelevoError("anonymousId: a browser key decides for its visitor's anonymousId")
        return anonymous, (anonymous,)
    if identity is not None:
        given = _given_identity(identity)
        return given, (given,) if anonymous is None else (given, anonymous)
    if anonymous is None:
        raise RelevoError("give the visitor's anonymousId or an identity {kind, value}")
    return anonymous, (anonymous,)


@router.post(
    "",
    tags=["decisions"],
    responses=_RESPONSES,
    openapi_extra=_body(DecideIn, "The visitor, the request's context and the placements"),
    summary="Decide what fills each placement for one visitor, with signed tokens",
)
async def decide(request: Request, services: ServicesDep) -> JSON:
    """Never fails the page: an unknown placement, or one for another channel, is an entry
    in `errors`; a variant that fails falls back to the next experience, then the default."""
    caller, data = await _read(request, services, "decide")
    try:
        body = DecideIn.model_validate(data)
    except ValidationError as error:
        raise RelevoError(_problems(error)) from None
    browser = caller.kind is KeyKind.BROWSER
    if browser and body.debug:
        raise Forbidden("debug shows the shop's targeting: ask for it with the secret key")
    if browser and body.channel != "web":
        raise Forbidden(f"channel {body.channel!r} is decided server-side, with the secret key")
    identity, lookups = _visitor(caller, body.anonymousId, body.identity)
    now = _now_ms()
    problems: list[dict[str, Any]] = []
    if body.identityToken is not None:
        keys = services.workspaces.trust_keys(caller.workspace.id)
        proven = verify_identity_token(keys.identity_secret, body.identityToken, now / 1000)
        if proven.user_id is not None:
            lookups = ((USER_ID, replace_unstorable(proven.user_id)), *lookups)
        else:
            problems.append(
                {
                    "placement": None,
                    "code": "identity_token_refused",
                    "message": f"{proven.failure}: decided for the anonymous visitor",
                }
            )
    if body.linkToken is not None:
        link = verify_link_token(
            services.workspaces.trust_keys(caller.workspace.id).link_secret,
            body.linkToken,
            now / 1000,
        )
        if link.profile_id is not None:
            lookups = ((PROFILE_ID, str(link.profile_id)), *lookups)
        else:
            problems.append(
                {
                    "placement": None,
                    "code": "link_token_refused",
                    "message": f"{link.failure}: decided for the anonymous visitor",
                }
            )
    decision = await services.decider.decide(
        DecideRequest(
            caller.workspace.id,
            identity,
            lookups,
            body.channel,
            body.context,
            tuple(replace_unstorable(p) for p in body.placements),
            body.debug,
            browser,
            tuple(problems),
        ),
        now,
    )
    return JSON(decision.view())


@router.post(
    "/events",
    tags=["decisions"],
    responses=_RESPONSES,
    openapi_extra=_body(EventsIn, "The visitor and the events, each with its decision token"),
    summary="Report impressions, clicks, dismissals, submits and conversions of a decision",
)
async def events(request: Request, services: ServicesDep) -> JSON:
    """Each event carries its placement's decision token; a forged, expired, replayed or
    other visitor's token is refused at its index, with the reason, and counted."""
    caller, data = await _read(request, services, "report on decisions")
    try:
        body = EventsIn.model_validate(data)
    except ValidationError as error:
        raise RelevoError(_problems(error)) from None
    identity, _ = _visitor(caller, body.anonymousId, body.identity)
    answer = await services.decision_feedback.report(
        FeedbackRequest(
            caller.workspace.id,
            identity,
            tuple(Reported(e.token, e.type, e.properties) for e in body.events),
            caller.kind is KeyKind.BROWSER,
        ),
        _now_ms(),
    )
    return JSON(answer.view())


@router.get(
    "/refusals",
    tags=["decision refusals"],
    responses=error_responses({401: "Missing or unknown secret key", 403: "Not the secret key"}),
    summary="Refused decision tokens, counted per experience and reason",
)
def refusals(workspace: SecretWorkspace, services: ServicesDep) -> JSON:
    rows = services.exposures.refusals(workspace.id)
    totals: dict[str, int] = {}
    for _, reason, count, _ in rows:
        totals[reason] = totals.get(reason, 0) + count
    return JSON(
        {
            "totals": totals,
            "refusals": [
                {
                    "experience_id": experience or None,
                    "reason": reason,
                    "count": count,
                    "last_at": iso(last),
                }
                for experience, reason, count, last in rows
            ],
        }
    )
