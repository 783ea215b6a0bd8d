"""Entry point for ASGI servers: ``uvicorn relevo.api.asgi:create --factory``."""

from __future__ import annotations

from fastapi import FastAPI

from relevo.api.app import create_app


def create() -> FastAPI:
    return create_app()
