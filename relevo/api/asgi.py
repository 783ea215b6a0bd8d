"""Entry point for ASGI servers: ``uvicorn relevo.api.asgi:create --factory``."""

from __future__ import annotations

from fastapi import FastAPI
from threadpoolctl import threadpool_limits

from relevo.api.app import create_app
from relevo.runtime import tune_for_server


def create() -> FastAPI:
    # Requests already run in parallel (worker processes, a thread per request); BLAS threads
    # on top would oversubscribe the cores and spin: 2 ms of scoring became 20 ms under load.
    threadpool_limits(1)
    app = create_app()
    tune_for_server()
    return app
