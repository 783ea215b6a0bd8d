"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import text

from relevo.api.deps import ServicesDep
from relevo.api.responses import JSON

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is up and the database answers")
def healthz(services: ServicesDep) -> JSON:
    with services.db.read() as conn:
        conn.execute(text("SELECT 1"))
    return JSON({"status": "ok"})
