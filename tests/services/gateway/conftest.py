"""A real gateway (uvicorn on an ephemeral port) on the real stack, with fresh topics."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import httpx
import pytest
import uvicorn

from somaagent.adapters.kafka import KafkaEventBus
from somaagent.adapters.openfga import OpenFgaClient
from somaagent.adapters.postgres.api_keys import ApiKeyStore
from somaagent.application.policy.admins import TenantAdmins
from somaagent.devstack.kafka import ensure_topics
from somaagent.services.gateway import GatewaySection, GatewaySettings, create_app
from somaagent.settings import CommonSettings

OUTBOUND_PARTITIONS = 4


@dataclass
class RunningGateway:
    base_url: str
    ws_url: str
    settings: GatewaySettings
    server: uvicorn.Server


async def start_gateway(settings: GatewaySettings) -> RunningGateway:
    config = uvicorn.Config(
        create_app(settings),
        host="127.0.0.1",
        port=0,
        log_level="warning",
        ws="websockets-sansio",
        lifespan="on",
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    async with asyncio.timeout(30):
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    server.task = task  # type: ignore[attr-defined]
    return RunningGateway(f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}", settings, server)


async def stop_gateway(gw: RunningGateway) -> None:
    gw.server.should_exit = True
    await gw.server.task  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
async def gateway_settings(settings: CommonSettings, migrated: str) -> GatewaySettings:
    run = uuid.uuid4().hex[:8]
    inbound, outbound = f"test.gw.{run}.inbound", f"test.gw.{run}.outbound"
    await ensure_topics(settings.kafka.bootstrap, [inbound], 2)
    await ensure_topics(settings.kafka.bootstrap, [outbound], OUTBOUND_PARTITIONS)
    return GatewaySettings(
        kafka=settings.kafka,
        postgres=settings.postgres,
        redis=settings.redis,
        gateway=GatewaySection(
            inbound_topic=inbound,
            outbound_topic=outbound,
            max_message_chars=64 * 1024,
            max_body_bytes=1024 * 1024,
        ),
    )


@pytest.fixture(scope="session")
async def gateway(gateway_settings: GatewaySettings) -> AsyncIterator[RunningGateway]:
    gw = await start_gateway(gateway_settings)
    yield gw
    await stop_gateway(gw)


@pytest.fixture(scope="session")
async def producer(gateway_settings: GatewaySettings) -> AsyncIterator[KafkaEventBus]:
    """A real producer in the role of the conversation worker (writes outbound events)."""
    async with KafkaEventBus(gateway_settings.kafka) as bus:
        yield bus


@dataclass
class Tenant:
    tenant_id: str
    key: str
    admin_key: str

    def headers(self, *, admin: bool = False) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_key if admin else self.key}"}


@pytest.fixture
async def keys(pg_pool: asyncpg.Pool) -> ApiKeyStore:
    return ApiKeyStore(pg_pool)


@pytest.fixture(scope="session")
async def fga(settings: CommonSettings) -> AsyncIterator[OpenFgaClient]:
    async with OpenFgaClient(settings.openfga) as client:
        yield client


async def new_tenant(keys: ApiKeyStore, fga: OpenFgaClient, name: str) -> Tenant:
    """A tenant with a user key (alice) and an admin key (root, an admin in OpenFGA)."""
    tenant = f"{name}-{uuid.uuid4().hex[:10]}"
    key, _ = await keys.create(tenant, "user", "alice")
    admin, _ = await TenantAdmins(fga).issue_key(keys, tenant, "admin", "root", actor="test")
    return Tenant(tenant, key, admin)


@pytest.fixture
async def tenant(keys: ApiKeyStore, fga: OpenFgaClient) -> Tenant:
    return await new_tenant(keys, fga, "acme")


@pytest.fixture
async def other_tenant(keys: ApiKeyStore, fga: OpenFgaClient) -> Tenant:
    return await new_tenant(keys, fga, "globex")


@pytest.fixture
async def http(gateway: RunningGateway) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=gateway.base_url, timeout=10) as client:
        yield client
