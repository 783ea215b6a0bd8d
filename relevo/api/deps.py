"""Request dependencies shared by every route (authentication is in ``relevo.api.auth``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from relevo.services import Services


async def get_services(request: Request) -> Services:
    # async: a sync dependency costs a thread-pool round trip on every request.
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]
