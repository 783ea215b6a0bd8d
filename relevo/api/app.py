"""The ASGI application factory."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from starlette.exceptions import HTTPException as StarletteHTTPException

from relevo import __version__
from relevo.api.cors import BrowserCors
from relevo.api.responses import JSON
from relevo.api.routes import (
    accounts,
    audiences,
    catalog,
    decide,
    experiences,
    experiment_results,
    experiments,
    health,
    identity_links,
    profiles,
    recommendations,
    rules,
    segments,
    snippet,
    storefront,
    tracking,
)
from relevo.api.storable_params import StorableParameters
from relevo.api.timing import ServerTiming
from relevo.audiences.job import AudienceJobThread
from relevo.errors import RelevoError
from relevo.experiments.allocation import AllocationThread
from relevo.services import Services
from relevo.settings import Settings
from relevo.tracking.writer import store_unavailable

log = logging.getLogger(__name__)


def error_body(code: str, message: str, **details: object) -> dict[str, object]:
    return {"error": {"code": code, "message": message, **details}}


def create_app(settings: Settings | None = None, services: Services | None = None) -> FastAPI:
    settings = settings or Settings()
    owned = services is None
    services = services or Services.build(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services.writer.start()
        background = services.background() if settings.run_materializer else None
        if background is not None:
            background.start()
        erasures = services.erasure_watcher()
        erasures.start()
        # Beside the materializer, never in a process that also serves requests for it: a
        # run judges thousands of profiles and would hold this event loop's interpreter lock
        # (with --workers N both run in the supervisor, which serves no app). Of several
        # processes, the one holding the job's lease runs it.
        jobs: list[AudienceJobThread | AllocationThread] = (
            [services.audience_job_thread(), services.allocation_thread()]
            if settings.run_materializer
            else []
        )
        for job in jobs:
            job.start()
        try:
            async with services.db.async_reads_open():
                yield
        finally:
            for job in reversed(jobs):
                job.stop()
            erasures.stop()
            if background is not None:
                background.stop()
            services.writer.stop()
            if owned:
                services.close()

    app = FastAPI(
        title="Relevo",
        version=__version__,
        summary="Self-hosted personalization engine: tracking, identity resolution, profiles",
        lifespan=lifespan,
        default_response_class=JSON,
    )
    app.state.services = services
    app.add_middleware(StorableParameters)
    # Looked up at the first preflight, not here: building the app touches no store.
    app.add_middleware(BrowserCors, browser_origins=lambda: services.workspaces.browser_origins())
    app.add_middleware(ServerTiming)

    @app.exception_handler(RelevoError)
    async def relevo_error(_: Request, error: RelevoError) -> JSON:
        headers = {}
        if "retry_after" in error.details:
            headers["Retry-After"] = str(error.details["retry_after"])
        return JSON(
            error_body(error.code, error.message, **error.details),
            status_code=error.status_code,
            headers=headers,
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, error: RequestValidationError) -> JSON:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()[:5]
        )
        return JSON(error_body("invalid_request", problems), status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSON:
        # Unknown paths and methods: the same error shape as every other 4xx, saying what to do.
        if error.status_code == 404 and error.detail == "Not Found":
            code, message = "not_found", f"no such endpoint: {request.url.path} (see /docs)"
        elif error.status_code == 405 and error.detail == "Method Not Allowed":
            code = "method_not_allowed"
            message = f"{request.method} is not allowed on {request.url.path} (see /docs)"
        else:
            code, message = "http_error", str(error.detail)
        return JSON(error_body(code, message), status_code=error.status_code, headers=error.headers)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, error: Exception) -> JSON:
        if store_unavailable(error):  # down, restarting or out of connections: not a bug
            log.warning("the database is unavailable: %s", error)
            return JSON(
                error_body("unavailable", "the database is unavailable; retry later"),
                status_code=503,
                headers={"Retry-After": "1"},
            )
        log.exception("unexpected error", exc_info=error)
        return JSON(
            error_body("internal_error", "unexpected server error; it has been logged"),
            status_code=500,
        )

    def openapi() -> dict[str, Any]:
        # Request validation answers 400 in the common error shape (validation_error above),
        # never FastAPI's 422, which it would otherwise document on every operation.
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, summary=app.summary, routes=app.routes
            )
            for item in schema.get("paths", {}).values():
                for operation in item.values():
                    operation.get("responses", {}).pop("422", None)
            for name in ("HTTPValidationError", "ValidationError"):
                schema.get("components", {}).get("schemas", {}).pop(name, None)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    # The hot paths first: a request is matched against the routes in this order.
    app.include_router(tracking.router)
    app.include_router(decide.router)
    app.include_router(recommendations.router)
    app.include_router(profiles.router)
    app.include_router(accounts.router)
    app.include_router(audiences.router)
    app.include_router(accounts.terms_router)
    app.include_router(identity_links.router)
    app.include_router(catalog.router)
    app.include_router(rules.router)
    app.include_router(segments.router)
    app.include_router(experiences.placements_router)
    app.include_router(experiences.router)
    app.include_router(experiment_results.router)  # before experiments' /{id} routes
    app.include_router(experiments.router)
    app.include_router(experiments.holdout_router)
    app.include_router(snippet.router)
    app.include_router(storefront.router)  # the demo shop's pages (/demo), not in the schema
    app.include_router(health.router)
    return app
