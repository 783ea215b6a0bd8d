"""``GET /relevo.js``: the website snippet (relevo/snippet), cacheable and versioned.

Asked for with ``?v=<version>`` (the ETag's value) it is cached for a year, immutable: a page
that names the version gets a new file only when it names a new one. Without it (or with an old
version) it is cached for five minutes and then revalidated with its ETag, so a page that just
includes ``/relevo.js`` follows upgrades.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from relevo.snippet import snippet

router = APIRouter(tags=["snippet"])

IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATED = "public, max-age=300"


@router.get(
    "/relevo.js",
    summary="The website snippet: one script tag collects page views, products and carts",
    response_class=Response,
    responses={
        200: {"content": {"text/javascript": {}}, "description": "The script"},
        304: {"description": "Not modified (If-None-Match)"},
    },
)
async def relevo_js(
    request: Request,
    v: Annotated[
        str | None, Query(description="The version (ETag) the page was written for")
    ] = None,
) -> Response:
    served = snippet()
    etag = f'"{served.version}"'
    headers = {
        "ETag": etag,
        "Cache-Control": IMMUTABLE if v == served.version else REVALIDATED,
        "Vary": "Accept-Encoding",
    }
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    if "gzip" in request.headers.get("accept-encoding", "").lower():
        headers["Content-Encoding"] = "gzip"
        body = served.gzipped
    else:
        body = served.body
    return Response(body, media_type="text/javascript; charset=utf-8", headers=headers)
