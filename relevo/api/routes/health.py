"""Liveness and readiness."""

from __future__ import annotations

import os

from fastapi import APIRouter
from sqlalchemy import text

from relevo.api.deps import ServicesDep
from relevo.api.responses import JSON

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is up and the database answers")
def healthz(services: ServicesDep) -> JSON:
    with services.db.read() as conn:
        conn.execute(text("SELECT 1"))
    # The worker process id tells an operator (and the tests) which worker answered.
    return JSON({"status": "ok", "worker_pid": os.getpid()})
