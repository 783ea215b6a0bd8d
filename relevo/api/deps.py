"""Request dependencies: the services and the two kinds of workspace authentication."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

from fastapi import Depends, Request

from relevo.errors import AuthError
from relevo.services import Services
from relevo.workspaces.keys import Workspace


async def get_services(request: Request) -> Services:
    # async: a sync dependency costs a thread-pool round trip on every request.
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def basic_auth_user(request: Request) -> str | None:
    """Segment's scheme: HTTP Basic with the write key as user name and an empty password."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise AuthError("Authorization header is not valid Basic credentials") from None
    return decoded.partition(":")[0] or None


def secret_workspace(request: Request, services: ServicesDep) -> Workspace:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise AuthError("send the workspace secret key as 'Authorization: Bearer sk_...'")
    workspace = services.workspaces.by_secret(token.strip())
    if workspace is None:
        raise AuthError("unknown secret key")
    return workspace


SecretWorkspace = Annotated[Workspace, Depends(secret_workspace)]
