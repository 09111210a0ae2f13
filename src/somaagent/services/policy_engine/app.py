"""HTTP layer of the policy engine: POST /v1/evaluate, GET /healthz, GET /metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import make_asgi_app

from somaagent.adapters.opa import OpaClient
from somaagent.adapters.openfga import OpenFgaClient
from somaagent.domain.errors import BackendError
from somaagent.domain.policy import PolicyRequest, PolicyVerdict
from somaagent.services.policy_engine.bundle import ConstitutionWatch
from somaagent.services.policy_engine.engine import PolicyEngine
from somaagent.services.policy_engine.settings import PolicyEngineSettings
from somaagent.telemetry.asgi import FASTAPI_TELEMETRY

log = structlog.get_logger(__name__)


@asynccontextmanager
async def open_engine(settings: PolicyEngineSettings) -> AsyncIterator[PolicyEngine]:
    """An engine on the configured OPA and OpenFGA, closed on exit."""
    section = settings.policy_engine
    watch = ConstitutionWatch(section.policies_dir, interval_s=section.watch_interval_s)
    async with AsyncExitStack() as stack:
        opa = await stack.enter_async_context(OpaClient(settings.opa))
        fga = await stack.enter_async_context(OpenFgaClient(settings.openfga))
        yield PolicyEngine(opa, fga, watch)


def create_app(
    engine: PolicyEngine | None = None, settings: PolicyEngineSettings | None = None
) -> FastAPI:
    """The ASGI app; give a ready `engine`, or `settings` to open one in the lifespan."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if engine is not None or settings is None:
            yield
            return
        async with open_engine(settings) as opened:
            app.state.engine = opened
            log.info("policy_engine.started", constitution_hash=opened.constitution_hash)
            yield

    app = FastAPI(title="SomaAgent policy engine", lifespan=lifespan, telemetry=FASTAPI_TELEMETRY)
    app.state.engine = engine
    app.mount("/metrics", make_asgi_app())

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        fields = [
            {"field": ".".join(str(p) for p in e["loc"] if p != "body"), "reason": e["msg"]}
            for e in exc.errors()
        ]
        summary = "; ".join(f"{f['field']}: {f['reason']}" for f in fields)
        return JSONResponse({"error": summary, "fields": fields}, status_code=422)

    @app.exception_handler(BackendError)
    async def _backend(request: Request, exc: BackendError) -> JSONResponse:
        chash = request.app.state.engine.constitution_hash
        log.warning("policy.backend.failed", error=exc.message, constitution_hash=chash)
        body = {"error": exc.message, "retriable": True, "constitution_hash": chash}
        return JSONResponse(body, status_code=503)

    @app.post("/v1/evaluate", response_model=PolicyVerdict)
    async def evaluate(body: PolicyRequest, request: Request) -> Response:
        current: PolicyEngine = request.app.state.engine
        verdict = await current.evaluate(body)
        # Already a validated model: serialise once, skip FastAPI's re-validation.
        return Response(verdict.model_dump_json(), media_type="application/json")

    @app.get("/healthz")
    async def healthz(request: Request) -> dict[str, str]:
        current: PolicyEngine = request.app.state.engine
        return {"status": "ok", "constitution_hash": current.constitution_hash}

    return app
