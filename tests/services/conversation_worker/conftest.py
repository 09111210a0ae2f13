"""A real conversation worker (and tool executor, and policy engine) on fresh topics and
this run's schema; the model servers, Kafka, PostgreSQL and Redis of the stack."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer

from somaagent.adapters.kafka import KafkaEventBus
from somaagent.application.policy import PolicyClientSettings
from somaagent.devstack.kafka import ensure_topics
from somaagent.domain.constants import dlq_topic
from somaagent.domain.event_types import MESSAGE_RECEIVED, MessageReceived, make_event
from somaagent.services.conversation_worker import ConversationWorker, WorkerSettings
from somaagent.services.conversation_worker.settings import WorkerSection, WorkerTopics
from somaagent.settings import CommonSettings


@pytest.fixture
async def topics(settings: CommonSettings) -> WorkerTopics:
    run = uuid.uuid4().hex[:8]
    chosen = WorkerTopics(
        inbound=f"test.cw.{run}.inbound",
        outbound=f"test.cw.{run}.outbound",
        tool_requests=f"test.cw.{run}.tool-requests",
        tool_results=f"test.cw.{run}.tool-results",
    )
    names = [chosen.inbound, chosen.outbound, chosen.tool_requests, chosen.tool_results]
    await ensure_topics(settings.kafka.bootstrap, [*names, *map(dlq_topic, names)], 2)
    return chosen


@pytest.fixture
def worker_settings(
    settings: CommonSettings, topics: WorkerTopics, policy_url: str, seeded_profiles: None
) -> WorkerSettings:
    return WorkerSettings(
        **settings.model_dump(exclude={"environment"}),
        worker=WorkerSection(
            metrics_port=0,
            group_id=f"test-cw-{uuid.uuid4().hex[:8]}",
            answer_max_tokens=24,
            decision_max_tokens=48,
            slm_embed_timeout_s=5.0,
            tool_timeout_s=60.0,
        ),
        policy=PolicyClientSettings(url=policy_url),
        topics=topics,
    )


@contextlib.asynccontextmanager
async def running_worker(settings: WorkerSettings) -> AsyncIterator[ConversationWorker]:
    async with ConversationWorker(settings) as worker:
        task = asyncio.create_task(worker.run())
        try:
            yield worker
        finally:
            await worker.shutdown()
            await asyncio.wait_for(task, 60)


@dataclass
class Watch:
    """Outbound updates of one turn, as a session watcher sees them."""

    updates: list[dict[str, Any]] = field(default_factory=list)

    def final(self) -> dict[str, Any]:
        return self.updates[-1]

    def attempts(self) -> set[int]:
        return {u["attempt"] for u in self.updates}

    def text_of_last_attempt(self) -> str:
        last = max(self.attempts())
        deltas = sorted(
            (u for u in self.updates if u["attempt"] == last and u["status"] == "streaming"),
            key=lambda u: u["seq"],
        )
        return "".join(u["delta"] for u in deltas)


Send = Callable[[str, str], Awaitable[tuple[str, str]]]


@pytest.fixture
def send(settings: CommonSettings, topics: WorkerTopics, unique: Callable[[str], str]) -> Send:
    """Publish a user message the way the gateway does; returns (session, correlation)."""

    async def publish(text: str, tenant: str) -> tuple[str, str]:
        session, correlation = unique("sess"), uuid.uuid4().hex
        event = make_event(
            MESSAGE_RECEIVED,
            MessageReceived(text=text),
            session_id=session,
            tenant_id=tenant,
            correlation_id=correlation,
        )
        async with KafkaEventBus(settings.kafka) as bus:
            await bus.publish(topics.inbound, event)
        return session, correlation

    return publish


async def watch_turn(
    settings: CommonSettings,
    topic: str,
    correlation: str,
    *,
    until: Callable[[dict[str, Any]], bool] = lambda u: u["status"] in {"completed", "error"},
    timeout_s: float = 240.0,
) -> Watch:
    """Read the outbound topic from the start until `until` holds for an update."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=settings.kafka.bootstrap, auto_offset_reset="earliest"
    )
    await consumer.start()
    watch = Watch()
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for record in records:
                    event = orjson.loads(record.value)
                    if event["correlation_id"] != correlation:
                        continue
                    watch.updates.append(event["payload"])
                    if until(event["payload"]):
                        return watch
        raise AssertionError(f"turn {correlation} did not finish: {watch.updates[-3:]}")
    finally:
        await consumer.stop()
