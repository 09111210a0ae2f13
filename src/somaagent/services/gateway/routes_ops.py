"""Operations: /healthz (the process answers), /readyz (its backends answer), /metrics."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import asyncpg
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from redis.exceptions import RedisError

from somaagent.domain.errors import SomaError
from somaagent.services.gateway.runtime import Runtime

router = APIRouter(tags=["operations"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


async def _probe(check: Callable[[], Awaitable[object]], timeout_s: float) -> str:
    try:
        async with asyncio.timeout(timeout_s):
            await check()
    except TimeoutError:
        return f"timed out after {timeout_s} s"
    except (SomaError, OSError, RuntimeError, asyncpg.PostgresError, RedisError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return "ok"


async def _kafka(runtime: Runtime) -> None:
    if runtime.fanout_task.done():
        raise RuntimeError("the outbound fan-out reader stopped")
    await runtime.fanout.ping()


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    runtime: Runtime = request.app.state.runtime
    timeout = runtime.settings.gateway.ready_timeout_s
    names = ("kafka", "postgres", "redis")
    results = await asyncio.gather(
        _probe(lambda: _kafka(runtime), timeout),
        _probe(lambda: runtime.pool.fetchval("SELECT 1", timeout=timeout), timeout),
        _probe(runtime.redis.ping, timeout),
    )
    checks = dict(zip(names, results, strict=True))
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not_ready", "checks": checks},
        status_code=200 if ready else 503,
    )


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    return Response(generate_latest(runtime.metrics.registry), media_type=CONTENT_TYPE_LATEST)
