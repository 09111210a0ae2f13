"""The tool executor against the real stack: Kafka, PostgreSQL and the real policy engine."""

from __future__ import annotations

import asyncio
import shutil
import socket
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest
import uvicorn

from somaagent.application.policy import PolicyClientSettings
from somaagent.devstack import Stack
from somaagent.devstack.kafka import ensure_topics
from somaagent.domain.constants import dlq_topic
from somaagent.services.policy_engine.app import create_app
from somaagent.services.policy_engine.settings import PolicyEngineSettings
from somaagent.services.tool_executor import ToolExecutorService, ToolExecutorSettings
from somaagent.settings import CommonSettings

Topics = Callable[..., Awaitable[list[str]]]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
async def policy_url(stack: Stack) -> AsyncIterator[str]:
    """The real policy engine (OPA + OpenFGA of the stack) served over HTTP on loopback."""
    port = free_port()
    config = uvicorn.Config(
        create_app(settings=PolicyEngineSettings()), host="127.0.0.1", port=port, log_level="error"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    url = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient() as client:
        for _ in range(100):
            try:
                if (await client.get(f"{url}/healthz", timeout=1)).status_code == 200:
                    break
            except httpx.TransportError:
                await asyncio.sleep(0.1)
    yield url
    server.should_exit = True
    await task


@pytest.fixture
async def executor_settings(
    settings: CommonSettings, migrated: str, policy_url: str, redis_prefix: str
) -> AsyncIterator[ToolExecutorSettings]:
    root = Path(tempfile.mkdtemp(prefix="soma-ws-"))
    built = ToolExecutorSettings.model_validate(
        {
            **settings.model_dump(),
            "tools": {"workspace_dir": root, "limits": {"wall_timeout_s": 10}},
            "redis": settings.redis.model_copy(update={"key_prefix": redis_prefix}).model_dump(),
            "policy": PolicyClientSettings(url=policy_url, cache_ttl_s=0).model_dump(),
        }
    )
    yield built
    shutil.rmtree(root)


@pytest.fixture
async def executor_topics(kafka_topics: Topics, settings: CommonSettings) -> list[str]:
    requests, results, blocked = await kafka_topics("tool-requests", "tool-results", "blocked")
    await ensure_topics(settings.kafka.bootstrap, [dlq_topic(requests)], 1)
    return [requests, results, blocked]


@pytest.fixture
async def running_executor(
    executor_settings: ToolExecutorSettings,
    executor_topics: list[str],
    unique: Callable[[str], str],
) -> AsyncIterator[ToolExecutorService]:
    requests, results, blocked = executor_topics
    service = ToolExecutorService(
        executor_settings,
        requests_topic=requests,
        results_topic=results,
        blocked_topic=blocked,
        group_id=unique("tool-executor"),
        serve_metrics=False,
    )
    async with service:
        task = asyncio.create_task(service.run())
        yield service
        await service.shutdown()
        await asyncio.wait_for(task, 30)
