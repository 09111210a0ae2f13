"""The gateway's FastAPI application: HTTP API, WebSocket stream, web client."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from somaagent.services.gateway import (
    requeue_routes,
    routes_admin,
    routes_ops,
    routes_sessions,
    routes_stream,
)
from somaagent.services.gateway.errors import BodyLimitMiddleware, install_error_handlers
from somaagent.services.gateway.runtime import Runtime, open_runtime
from somaagent.services.gateway.settings import GatewaySettings

STATIC = Path(__file__).parent / "static"


def _route_template(request: Request) -> str:
    route = request.scope.get("route")
    return str(getattr(route, "path", "unmatched"))


def _instrument(app: FastAPI) -> None:
    @app.middleware("http")
    async def count(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        runtime: Runtime | None = getattr(request.app.state, "runtime", None)
        if runtime is not None:
            route = _route_template(request)
            runtime.metrics.requests.labels(route, request.method, response.status_code).inc()
            runtime.metrics.request_seconds.labels(route).observe(time.perf_counter() - started)
        return response


def create_app(settings: GatewaySettings) -> FastAPI:
    """The app; its lifespan connects to Kafka, Postgres and Redis and starts the fan-out."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_runtime(settings) as runtime:
            app.state.runtime = runtime
            app.state.requeue = runtime.requeue
            yield

    app = FastAPI(
        title="SomaAgent gateway",
        version="0.1.0",
        description="Sessions, messages and the streamed answers of SomaAgent conversations.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    _instrument(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.gateway.max_body_bytes)
    app.include_router(routes_sessions.router)
    app.include_router(routes_stream.router)
    app.include_router(routes_admin.router)
    app.include_router(requeue_routes.router)
    app.include_router(routes_ops.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    return app
