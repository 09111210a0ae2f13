"""ToolExecutorService: the `soma worker tools` process.

    async with ToolExecutorService(settings) as service:
        await service.run()          # until shutdown() (SIGTERM/SIGINT in the CLI)

Consumes tool.requests in the GROUP_TOOL_EXECUTOR consumer group with bounded in-flight
partitions (fetching stops while all are busy), runs each request through ToolExecutor,
publishes on tool.results and serves /metrics. Shutdown: stop consuming, drain in-flight
requests, commit, then close Kafka, the policy client, Redis and PostgreSQL. A denied request
is held by the policy gate (requeue item + policy.blocked) until an admin resolves it.
"""

from __future__ import annotations

import socket
import uuid
from contextlib import AsyncExitStack
from types import TracebackType
from typing import Self

import redis.asyncio as aioredis
import structlog
from prometheus_client import start_http_server

from somaagent.adapters.kafka import KafkaConsumerLoop, KafkaEventBus
from somaagent.adapters.postgres.attachments import PostgresAttachmentStore
from somaagent.adapters.postgres.audit import PostgresAuditLog
from somaagent.adapters.postgres.pool import open_pool
from somaagent.adapters.postgres.requeue import PostgresRequeueStore
from somaagent.adapters.postgres.tool_executions import PostgresExecutionLedger
from somaagent.adapters.redis.policy_epoch import RedisPolicyEpoch
from somaagent.application.policy import HttpPolicyClient
from somaagent.application.policy.gate import PolicyGate
from somaagent.application.redaction import OutputRedactor, scanner_from_policies
from somaagent.domain.constants import (
    GROUP_TOOL_EXECUTOR,
    TOPIC_POLICY_BLOCKED,
    TOPIC_TOOL_REQUESTS,
    TOPIC_TOOL_RESULTS,
)
from somaagent.services.tool_executor.executor import ToolExecutor
from somaagent.services.tool_executor.settings import ToolExecutorSettings
from somaagent.services.tool_executor.wiring import build_registry

log = structlog.get_logger(__name__)


class ToolExecutorService:
    def __init__(
        self,
        settings: ToolExecutorSettings,
        *,
        requests_topic: str = TOPIC_TOOL_REQUESTS,
        results_topic: str = TOPIC_TOOL_RESULTS,
        blocked_topic: str = TOPIC_POLICY_BLOCKED,
        group_id: str = GROUP_TOOL_EXECUTOR,
        serve_metrics: bool = True,
    ) -> None:
        self.settings = settings
        self.requests_topic = requests_topic
        self.results_topic = results_topic
        self.blocked_topic = blocked_topic
        self.group_id = group_id
        self.serve_metrics = serve_metrics
        self.owner = f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}"
        self._stack = AsyncExitStack()
        self._loop: KafkaConsumerLoop | None = None
        self.executor: ToolExecutor | None = None

    async def __aenter__(self) -> Self:
        try:
            await self._open()
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def _open(self) -> None:
        pool = await open_pool(self.settings.postgres)
        self._stack.push_async_callback(pool.close)
        bus = await self._stack.enter_async_context(KafkaEventBus(self.settings.kafka))
        redis = aioredis.Redis(
            host=self.settings.redis.host,
            port=self.settings.redis.port,
            db=self.settings.redis.db,
            socket_timeout=self.settings.redis.socket_timeout_s,
        )
        self._stack.push_async_callback(redis.aclose)
        epoch = RedisPolicyEpoch(redis, key_prefix=self.settings.redis.key_prefix)
        policy = await self._stack.enter_async_context(
            HttpPolicyClient(self.settings.policy, epoch=epoch)
        )
        requeue = PostgresRequeueStore(pool, redis, key_prefix=self.settings.redis.key_prefix)
        gate = PolicyGate(
            policy, bus, requeue, blocked_topic=self.blocked_topic, tool_topic=self.requests_topic
        )
        registry = await self._stack.enter_async_context(build_registry(self.settings, pool, gate))
        section = self.settings.tools
        self.executor = ToolExecutor(
            registry=registry,
            ledger=PostgresExecutionLedger(pool, self.settings.postgres.command_timeout_s),
            attachments=PostgresAttachmentStore(pool),
            gate=gate,
            redactor=OutputRedactor(
                scanner_from_policies(self.settings.policies_root()), PostgresAuditLog(pool)
            ),
            bus=bus,
            results_topic=self.results_topic,
            owner=self.owner,
            lease_s=section.lease_s,
            max_concurrent=section.max_concurrent_runs,
        )
        self._loop = KafkaConsumerLoop(
            self.settings.kafka,
            topics=[self.requests_topic],
            group_id=self.group_id,
            handler=self.executor.handle,
            bus=bus,
            max_in_flight=section.max_in_flight,
        )
        if self.serve_metrics:
            start_http_server(section.metrics_port, addr=section.metrics_host)
        log.info("tool_executor.ready", owner=self.owner, tools=registry.names())

    async def run(self) -> None:
        if self._loop is None:
            raise RuntimeError("use `async with ToolExecutorService(...)` before run()")
        await self._loop.run()

    async def shutdown(self) -> None:
        """Stop consuming; run() drains in-flight requests and commits. Idempotent."""
        if self._loop is not None:
            await self._loop.shutdown()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.shutdown()
        await self._stack.aclose()
