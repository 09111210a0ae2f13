"""The gateway's FastAPI application: HTTP API, WebSocket stream, web client."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from somaagent.services.gateway import (
    mcp_server,
    openai_routes,
    requeue_routes,
    routes_admin,
    routes_attachments,
    routes_console,
    routes_ops,
    routes_sessions,
    routes_stream,
)
from somaagent.services.gateway.errors import BodyLimitMiddleware, install_error_handlers
from somaagent.services.gateway.runtime import Runtime, open_runtime
from somaagent.services.gateway.settings import GatewaySettings
from somaagent.telemetry.asgi import FASTAPI_TELEMETRY

STATIC = Path(__file__).parent / "static"


class MetricsMiddleware:
    """Count and time HTTP requests by route template (pure ASGI: no body buffering)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def tracking_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        finally:
            runtime: Runtime | None = getattr(scope["app"].state, "runtime", None)
            if runtime is not None:
                route = str(getattr(scope.get("route"), "path", "unmatched"))
                runtime.metrics.requests.labels(route, scope["method"], status).inc()
                elapsed = time.perf_counter() - started
                runtime.metrics.request_seconds.labels(route).observe(elapsed)


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
        telemetry=FASTAPI_TELEMETRY,
    )
    install_error_handlers(app)
    app.add_middleware(MetricsMiddleware)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.gateway.max_body_bytes)
    app.include_router(openai_routes.router)  # before routes_ops: it owns GET /v1/models
    app.include_router(routes_sessions.router)
    app.include_router(routes_stream.router)
    app.include_router(routes_admin.router)
    app.include_router(requeue_routes.router)
    app.include_router(routes_ops.router)
    app.include_router(routes_attachments.router)
    app.include_router(routes_console.router)
    app.include_router(mcp_server.router)  # /mcp; its lifespan runs the MCP session manager
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    return app
