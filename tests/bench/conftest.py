"""Tests of the bench scripts, and the real platform (gateway, conversation worker, tool
executor, models) that the agent evaluation drives, on fresh topics and this run's schema.

bench/ is a folder of scripts run from the repository root (`python -m bench.x`), not an
installed package, so the root goes on the path to import it. (This folder has no
__init__.py: as a package it would itself be named `bench` and shadow the scripts.)
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator

import pytest

from services.conversation_worker.conftest import running_worker
from services.conversation_worker.test_tool_turns import running_executor
from services.gateway.conftest import RunningGateway, start_gateway, stop_gateway
from somaagent.application.policy import PolicyClientSettings
from somaagent.devstack.kafka import ensure_topics
from somaagent.domain.constants import dlq_topic
from somaagent.services.conversation_worker import WorkerSettings
from somaagent.services.conversation_worker.settings import WorkerSection, WorkerTopics
from somaagent.services.gateway import GatewaySection, GatewaySettings
from somaagent.settings import CommonSettings, repo_root

if str(repo_root()) not in sys.path:
    sys.path.insert(0, str(repo_root()))


@pytest.fixture(scope="session")
async def platform(
    settings: CommonSettings, migrated: str, policy_url: str, seeded_profiles: None
) -> AsyncIterator[RunningGateway]:
    """A gateway with a conversation worker and a tool executor behind it."""
    run = uuid.uuid4().hex[:8]
    topics = WorkerTopics(
        inbound=f"test.eval.{run}.inbound",
        outbound=f"test.eval.{run}.outbound",
        tool_requests=f"test.eval.{run}.tool-requests",
        tool_results=f"test.eval.{run}.tool-results",
    )
    names = [topics.inbound, topics.outbound, topics.tool_requests, topics.tool_results]
    await ensure_topics(settings.kafka.bootstrap, [*names, *map(dlq_topic, names)], 2)
    worker = WorkerSettings(
        **settings.model_dump(exclude={"environment"}),
        worker=WorkerSection(metrics_port=0, group_id=f"test-eval-{run}", answer_max_tokens=48),
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
