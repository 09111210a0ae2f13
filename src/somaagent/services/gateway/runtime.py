"""The gateway's live connections, opened in the app's lifespan and closed in reverse."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import asyncpg
import redis.asyncio as aioredis

from somaagent.adapters.kafka import KafkaEventBus
from somaagent.adapters.kafka.outbound_fanout import OutboundFanout
from somaagent.adapters.openfga.client import OpenFgaClient
from somaagent.adapters.postgres.api_keys import ApiKeyStore
from somaagent.adapters.postgres.event_store import PostgresEventStore
from somaagent.adapters.postgres.pool import open_pool
from somaagent.adapters.postgres.requeue import PostgresRequeueStore
from somaagent.adapters.postgres.sessions import PostgresSessions
from somaagent.adapters.redis.policy_epoch import RedisPolicyEpoch
from somaagent.application.policy.admins import TenantAdmins
from somaagent.application.policy.client import HttpPolicyClient
from somaagent.application.policy.requeue import RequeueService
from somaagent.services.gateway.hub import StreamHub
from somaagent.services.gateway.metrics import GatewayMetrics
from somaagent.services.gateway.settings import GatewaySettings


@dataclass
class Runtime:
    settings: GatewaySettings
    pool: asyncpg.Pool
    redis: aioredis.Redis
    bus: KafkaEventBus
    fanout: OutboundFanout
    hub: StreamHub
    keys: ApiKeyStore
    store: PostgresEventStore
    sessions: PostgresSessions
    metrics: GatewayMetrics
    fanout_task: asyncio.Task[None]
    requeue: RequeueService
    admins: TenantAdmins


@asynccontextmanager
async def open_runtime(settings: GatewaySettings) -> AsyncIterator[Runtime]:
    """Connect to Postgres, Redis and Kafka and run the outbound fan-out until exit."""
    gw = settings.gateway
    hub = StreamHub(gw.ws_queue_max)
    async with contextlib.AsyncExitStack() as stack:
        pool = await open_pool(settings.postgres)
        stack.push_async_callback(pool.close)
        rd = aioredis.Redis(
            host=settings.redis.host,
            port=settings.redis.port,
            db=settings.redis.db,
            socket_timeout=settings.redis.socket_timeout_s,
            socket_connect_timeout=settings.redis.socket_timeout_s,
        )
        stack.push_async_callback(rd.aclose)
        bus = await stack.enter_async_context(KafkaEventBus(settings.kafka))
        fanout = OutboundFanout(settings.kafka, gw.outbound_topic, hub.dispatch)
        await fanout.start()
        stack.push_async_callback(fanout.stop)
        task = asyncio.create_task(fanout.run(), name="gateway-outbound-fanout")
        stack.push_async_callback(_cancel, task)
        epoch = RedisPolicyEpoch(rd, key_prefix=settings.redis.key_prefix)
        policy = await stack.enter_async_context(HttpPolicyClient(settings.policy, epoch=epoch))
        fga = await stack.enter_async_context(OpenFgaClient(settings.openfga, on_change=epoch.bump))
        store = PostgresRequeueStore(pool, rd, key_prefix=settings.redis.key_prefix)
        yield Runtime(
            settings=settings,
            pool=pool,
            redis=rd,
            bus=bus,
            fanout=fanout,
            hub=hub,
            keys=ApiKeyStore(pool),
            store=PostgresEventStore(pool),
            sessions=PostgresSessions(pool),
            metrics=GatewayMetrics(),
            fanout_task=task,
            requeue=RequeueService(store, policy, bus, fga),
            admins=TenantAdmins(fga),
        )


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.wait([task])
