"""CORS for browser sources: a shop's pages call Relevo from their own origin.

A request made with a browser key from an ``Origin`` its source allows (relevo.workspaces.
origins) is answered with ``Access-Control-Allow-Origin: <that origin>`` and ``Vary: Origin``;
from any other origin it is refused with a 403 and no CORS headers, so the page cannot read the
answer either. The same origin (a page Relevo serves itself) needs no entry. Server keys and the
secret key are never checked: they are not used from pages.

A preflight (``OPTIONS`` with ``Access-Control-Request-Method``) carries no key, so it is
answered for any origin that some browser source allows; the request that follows is checked
against its own source. The snippet sends its key in a ``text/plain`` body, a simple request
that needs no preflight at all.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import orjson
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from relevo.errors import Forbidden
from relevo.tracking.messages import MESSAGE_TYPES
from relevo.workspaces.keys import Source
from relevo.workspaces.origins import origin_allowed

# The routes a browser key may call: only these answer a preflight.
BROWSER_PATHS = re.compile(
    r"^/v1/(?:batch|{}|recommendations(?:/[^/]+/feedback)?|decide(?:/events)?)$".format(
        "|".join(MESSAGE_TYPES)
    )
)
_STATE_KEY = "cors_origin"
_PREFLIGHT_SECONDS = "600"
_ALLOWED_HEADERS = "authorization, content-type, content-encoding"
# Read by the snippet's back-off after a 429 or a 503.
_EXPOSED_HEADERS = "retry-after"


def _same_origin(origin: str, host: str | None) -> bool:
    try:
        return host is not None and urlsplit(origin).netloc.lower() == host.lower()
    except ValueError:
        return False


def check_origin(request: Request, source: Source | None) -> None:
    """Refuse a browser key's request from an origin its source does not allow; mark an
    allowed cross-origin request so that its answer carries the CORS headers."""
    origin = request.headers.get("origin")
    if origin is None or source is None or _same_origin(origin, request.headers.get("host")):
        return
    if not origin_allowed(source.allowed_origins, origin):
        raise Forbidden(
            f"origin {origin!r} is not allowed for browser source {source.name!r}; allow it "
            f"with `relevo source origins WORKSPACE {source.name} --origin {origin}`",
            origin=origin,
        )
    request.state.cors_origin = origin


def _cors_headers(origin: str) -> list[tuple[bytes, bytes]]:
    return [
        (b"access-control-allow-origin", origin.encode("latin-1")),
        (b"vary", b"Origin"),
        (b"access-control-expose-headers", _EXPOSED_HEADERS.encode()),
    ]


class BrowserCors:
    """Answers preflights and adds the CORS headers that ``check_origin`` decided."""

    def __init__(self, app: ASGIApp, browser_origins: Callable[[], frozenset[str]]) -> None:
        self.app = app
        self.browser_origins = browser_origins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.lower(): v for k, v in scope["headers"] if k.lower() in (b"origin", b"host")}
        origin_bytes = headers.get(b"origin")
        if origin_bytes is None:
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS" and BROWSER_PATHS.match(scope["path"]):
            request_headers = dict(scope["headers"])
            if b"access-control-request-method" in request_headers:
                origin = origin_bytes.decode("latin-1")
                host = headers.get(b"host")
                await self._preflight(origin, host.decode("latin-1") if host else None, send)
                return
        state: dict[str, Any] = scope.setdefault("state", {})

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start" and state.get(_STATE_KEY):
                message = {
                    **message,
                    "headers": [*message.get("headers", []), *_cors_headers(state[_STATE_KEY])],
                }
            await send(message)

        await self.app(scope, receive, send_with_cors)

    async def _preflight(self, origin: str, host: str | None, send: Send) -> None:
        if _same_origin(origin, host) or origin_allowed(self.browser_origins(), origin):
            headers = [
                *_cors_headers(origin),
                (b"access-control-allow-methods", b"POST, OPTIONS"),
                (b"access-control-allow-headers", _ALLOWED_HEADERS.encode()),
                (b"access-control-max-age", _PREFLIGHT_SECONDS.encode()),
            ]
            await send({"type": "http.response.start", "status": 204, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return
        body = orjson.dumps(
            {
                "error": {
                    "code": "forbidden",
                    "message": f"origin {origin!r} is not allowed for any browser source; allow "
                    "it with `relevo source origins WORKSPACE SOURCE --origin <origin>`",
                }
            }
        )
        response_headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"vary", b"Origin"),
        ]
        await send({"type": "http.response.start", "status": 403, "headers": response_headers})
        await send({"type": "http.response.body", "body": body})
