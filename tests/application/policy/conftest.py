"""Policy fixtures: a real policy engine served by uvicorn in-process, and an OPA of our own.

The engine talks to the stack's OpenFGA and to either the stack's OPA or a private OPA
process (started from the cached binary on a spare port) that a test may stop and restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis
import uvicorn
from aiokafka import AIOKafkaConsumer

from somaagent.adapters.kafka import KafkaEventBus, parse_envelope
from somaagent.adapters.openfga import OpenFgaClient
from somaagent.adapters.postgres.requeue import PostgresRequeueStore
from somaagent.application.policy import HttpPolicyClient, PolicyClientSettings
from somaagent.application.policy.gate import PolicyGate
from somaagent.application.policy.requeue import RequeueService
from somaagent.application.policy.retry import RequeueRetryJob, RetrySettings
from somaagent.devstack import Stack
from somaagent.devstack.opa import opa_binary
from somaagent.domain.events import Envelope
from somaagent.services.policy_engine import PolicyEngineSettings, create_app
from somaagent.settings import CommonSettings, OpaSettings, repo_root


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def serve_engine(settings: CommonSettings, opa_url: str | None = None) -> AsyncIterator[str]:
    """Run the engine app under uvicorn on a free port; yield its base URL."""
    opa = OpaSettings(url=opa_url, timeout_s=1.0) if opa_url else settings.opa
    engine_settings = PolicyEngineSettings(opa=opa, openfga=settings.openfga)
    port = free_port()
    config = uvicorn.Config(
        create_app(settings=engine_settings),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        ws="none",
        lifespan="on",
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(250):
        if server.started:
            break
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@pytest.fixture
async def engine_url(stack: Stack, settings: CommonSettings) -> AsyncIterator[str]:
    async with serve_engine(settings) as url:
        yield url


class OwnOpa:
    """An OPA process serving policies/opa on a spare loopback port; stop() and start() it."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            opa_binary(),
            "run",
            "--server",
            "--addr",
            f"127.0.0.1:{self.port}",
            "--ignore",
            "*_test.rego",
            str(repo_root() / "policies" / "opa"),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        async with httpx.AsyncClient(timeout=0.5) as http:
            for _ in range(200):
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(f"{self.url}/health?bundles")).status_code == 200:
                        return
                await asyncio.sleep(0.05)
        raise RuntimeError("own OPA did not become healthy")

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
        self.proc = None


@pytest.fixture
async def own_opa(stack: Stack) -> AsyncIterator[OwnOpa]:
    opa = OwnOpa()
    await opa.start()
    try:
        yield opa
    finally:
        await opa.stop()


@pytest.fixture
def tool_request(unique: Callable[[str], str]) -> Callable[..., dict[str, Any]]:
    def make(tenant: str, **changes: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "tenant": tenant,
            "persona": "helper",
            "action": "tool.request",
            "resource": "http_fetch",
            "payload": {"url": "https://example.com/page"},
            "context": {},
        }
        body.update(changes)
        return body

    return make


async def read_topic(
    bootstrap: str, topic: str, *, at_least: int = 1, timeout_s: float = 15.0, settle_s: float = 1.0
) -> list[tuple[Envelope, dict[str, str]]]:
    """Every record on a (fresh) topic as (envelope, headers); waits for `at_least` records
    and then `settle_s` more, so a duplicate arriving late would be seen."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        found: list[tuple[Envelope, dict[str, str]]] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while loop.time() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for msgs in batch.values():
                for msg in msgs:
                    headers = {k: v.decode() for k, v in (msg.headers or [])}
                    found.append((parse_envelope(msg.value), headers))
            if len(found) >= at_least:
                deadline = min(deadline, loop.time() + settle_s)
        return found
    finally:
        await consumer.stop()


@dataclass
class PolicyKit:
    """The real pieces a worker wires together: client, gate, requeue service, retry job."""

    client: HttpPolicyClient
    store: PostgresRequeueStore
    gate: PolicyGate
    service: RequeueService
    fga: OpenFgaClient
    blocked_topic: str
    tool_topic: str

    def retry_job(self, redis_prefix: str, **settings: Any) -> RequeueRetryJob:
        return RequeueRetryJob(
            self.service,
            self.store,
            self.store.redis,
            key_prefix=redis_prefix,
            settings=RetrySettings(**settings),
        )


KitFactory = Callable[..., AbstractAsyncContextManager[PolicyKit]]


@pytest.fixture
def make_kit(
    settings: CommonSettings,
    pg_pool: asyncpg.Pool,
    redis_client: aioredis.Redis,
    redis_prefix: str,
    kafka_topics: Callable[..., Awaitable[list[str]]],
) -> KitFactory:
    @asynccontextmanager
    async def make(url: str, **client_settings: Any) -> AsyncIterator[PolicyKit]:
        blocked_topic, tool_topic = await kafka_topics("blocked", "tools")
        config = PolicyClientSettings(url=url, timeout_s=1.0, **client_settings)
        store = PostgresRequeueStore(pg_pool, redis_client, key_prefix=redis_prefix)
        async with (
            HttpPolicyClient(config) as client,
            KafkaEventBus(settings.kafka) as bus,
            OpenFgaClient(settings.openfga) as fga,
        ):
            gate = PolicyGate(
                client, bus, store, blocked_topic=blocked_topic, tool_topic=tool_topic
            )
            service = RequeueService(store, client, bus, fga)
            yield PolicyKit(client, store, gate, service, fga, blocked_topic, tool_topic)

    return make


@pytest.fixture
async def kit(engine_url: str, make_kit: KitFactory) -> AsyncIterator[PolicyKit]:
    async with make_kit(engine_url) as made:
        yield made
