"""Authentication for every route: which workspace, and with which kind of key.

    Authorization: Basic base64("<write key>:")   a source's write key (Segment's scheme)
    {"writeKey": "<write key>"} in the body        Segment's alternative, tracking calls only
                                                   (a text/plain body: no CORS preflight)
    Authorization: Bearer <secret key>             the workspace's secret key

A browser source's key is public: it may send events and read only what its visitor has
proven (``recommendations`` for its own anonymous id), and from a page only on an origin its
source allows (relevo.api.cors). A server source's key only writes, and
its links between identities are trusted. The secret key reads and administers; it does not
send events. Calls made with a write key count against the rate limits (per key; a browser key
also per client IP).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request

from relevo.api.cors import check_origin
from relevo.api.deps import ServicesDep
from relevo.errors import AuthError, Forbidden
from relevo.services import Services
from relevo.workspaces.keys import KeyKind, Principal, Workspace

_WHAT = {
    KeyKind.BROWSER: "a browser write key",
    KeyKind.SERVER: "a server write key",
    KeyKind.SECRET: "the secret key",
}


def _credentials(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    scheme, value = scheme.lower(), value.strip()
    if scheme == "bearer" and value:
        return "bearer", value
    if scheme != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise AuthError("Authorization header is not valid Basic credentials") from None
    user = decoded.partition(":")[0]
    return ("basic", user) if user else None


def authenticate(request: Request, services: Services, body_write_key: object = None) -> Principal:
    """The caller, from the Authorization header (or a tracking body's ``writeKey``)."""
    found = _credentials(request)
    if found is None and isinstance(body_write_key, str) and body_write_key:
        found = ("basic", body_write_key)
    if found is None:
        raise AuthError(
            "send a write key as the HTTP Basic user name (Segment's scheme), or the secret key "
            "as 'Authorization: Bearer sk_...'"
        )
    scheme, key = found
    if scheme == "bearer":
        principal = services.workspaces.by_secret(key)
        if principal is None:
            hint = (
                " (that is a write key: send it as HTTP Basic)"
                if key.startswith(("wk_", "swk_"))
                else ""
            )
            raise AuthError(f"unknown secret key{hint}")
    else:
        principal = services.workspaces.by_write_key(key)
        if principal is None:
            hint = (
                " (that is the secret key: send it as a Bearer token)"
                if key.startswith("sk_")
                else ""
            )
            raise AuthError(f"unknown write key{hint}")
    if principal.kind is KeyKind.BROWSER:
        # Before the rate limit: a 429 to an allowed page carries the CORS headers, so the
        # snippet can read its Retry-After.
        check_origin(request, principal.source)
    if principal.kind is not KeyKind.SECRET:
        client = request.client.host if request.client else None
        services.rate_limits.check(
            principal.key_id, client if principal.kind is KeyKind.BROWSER else None
        )
    return principal


def require(principal: Principal, kinds: tuple[KeyKind, ...], action: str) -> Principal:
    if principal.kind not in kinds:
        allowed = " or ".join(_WHAT[k] for k in kinds)
        raise Forbidden(f"{_WHAT[principal.kind]} cannot {action}; use {allowed}")
    return principal


def allowing(*kinds: KeyKind, action: str) -> Callable[[Request, Services], Awaitable[Principal]]:
    async def dependency(request: Request, services: ServicesDep) -> Principal:
        # async: a sync dependency costs a thread-pool round trip on every request.
        return require(authenticate(request, services), kinds, action)

    return dependency


SecretKey = Annotated[
    Principal, Depends(allowing(KeyKind.SECRET, action="read or change workspace data"))
]
# Recommendations: server-side with the secret key, or a page asking for its own visitor.
ReaderKey = Annotated[
    Principal,
    Depends(allowing(KeyKind.SECRET, KeyKind.BROWSER, action="ask for recommendations")),
]


async def _secret_workspace(request: Request, services: ServicesDep) -> Workspace:
    principal = authenticate(request, services)
    return require(principal, (KeyKind.SECRET,), "read or change workspace data").workspace


# For routes that only need to know which workspace the secret key opened.
SecretWorkspace = Annotated[Workspace, Depends(_secret_workspace)]
