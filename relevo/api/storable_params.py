"""Path and query parameters as stored: NUL characters become U+FFFD before any route sees them,
as they do in tracked messages (PostgreSQL cannot hold NUL; SQLite can, so without this the two
backends would answer differently, or PostgreSQL not at all). Percent-decoding already turns
invalid UTF-8, such as an encoded lone surrogate, into U+FFFD."""

from __future__ import annotations

import re

from starlette.types import ASGIApp, Receive, Scope, Send

_NUL_ESCAPE = re.compile(rb"%00")


class StorableParameters:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path, query = scope["path"], scope["query_string"]
            if "\x00" in path or b"%00" in query:
                scope = {
                    **scope,
                    "path": path.replace("\x00", "\ufffd"),
                    "query_string": _NUL_ESCAPE.sub(b"%EF%BF%BD", query),
                }
        await self.app(scope, receive, send)
