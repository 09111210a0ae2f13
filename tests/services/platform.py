"""A whole platform in-process for tests: gateway, conversation worker and tool executor on
fresh topics (and their dead-letter twins) over the stack's servers and this run's schema."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator

from services.conversation_worker.conftest import running_worker
from services.conversation_worker.test_tool_turns import running_executor
from services.gateway.conftest import RunningGateway, start_gateway, stop_gateway
from somaagent.application.policy import PolicyClientSettings
from somaagent.devstack.kafka import ensure_topics
from somaagent.domain.constants import dlq_topic
from somaagent.services.conversation_worker import WorkerSettings
from somaagent.services.conversation_worker.settings import WorkerSection, WorkerTopics
from somaagent.services.gateway import GatewaySection, GatewaySettings
from somaagent.settings import CommonSettings


@contextlib.asynccontextmanager
async def running_platform(
    settings: CommonSettings, policy_url: str, *, name: str, answer_max_tokens: int
) -> AsyncIterator[RunningGateway]:
    """A gateway with a conversation worker and a tool executor behind it; `name` tags the
    run's topics (test.<name>.<run>.*) and consumer group."""
    run = uuid.uuid4().hex[:8]
    topics = WorkerTopics(
        inbound=f"test.{name}.{run}.inbound",
        outbound=f"test.{name}.{run}.outbound",
        tool_requests=f"test.{name}.{run}.tool-requests",
        tool_results=f"test.{name}.{run}.tool-results",
    )
    names = [topics.inbound, topics.outbound, topics.tool_requests, topics.tool_results]
    await ensure_topics(settings.kafka.bootstrap, [*names, *map(dlq_topic, names)], 2)
    worker = WorkerSettings(
        **settings.model_dump(exclude={"environment"}),
        worker=WorkerSection(
            metrics_port=0, group_id=f"test-{name}-{run}", answer_max_tokens=answer_max_tokens
        ),
        policy=PolicyClientSettings(url=policy_url),
        topics=topics,
    )
    gateway = GatewaySettings(
        kafka=settings.kafka,
        postgres=settings.postgres,
        redis=settings.redis,
        gateway=GatewaySection(inbound_topic=topics.inbound, outbound_topic=topics.outbound),
    )
    async with running_worker(worker), running_executor(worker):
        gw = await start_gateway(gateway)
        try:
            yield gw
        finally:
            await stop_gateway(gw)
