"""The Kafka adapter on the real broker: publish, consume with commit-after-effect, DLQ."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable

from aiokafka import AIOKafkaConsumer, TopicPartition

from somaagent.adapters.kafka import KafkaConsumerLoop, KafkaEventBus, trace_id_of
from somaagent.devstack.kafka import ensure_topics
from somaagent.domain.bus import Record
from somaagent.domain.constants import dlq_topic
from somaagent.domain.errors import ToolError
from somaagent.domain.events import Envelope
from somaagent.settings import CommonSettings

Topics = Callable[..., Awaitable[list[str]]]


async def read_all(settings: CommonSettings, topic: str, count: int) -> list[object]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=settings.kafka.bootstrap, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        got: list[object] = []
        async with asyncio.timeout(20):
            while len(got) < count:
                for records in (await consumer.getmany(timeout_ms=1000)).values():
                    got.extend(records)
        return got
    finally:
        await consumer.stop()


def event(session: str, text: str) -> Envelope:
    return Envelope(
        type="conversation.message.received",
        session_id=session,
        tenant_id="t1",
        payload={"text": text},
    )


async def test_publish_keys_by_session_and_adds_traceparent(
    settings: CommonSettings, kafka_topics: Topics
) -> None:
    (topic,) = await kafka_topics("bus", partitions=4)
    async with KafkaEventBus(settings.kafka) as bus:
        positions = [await bus.publish(topic, event("s-1", f"m{i}")) for i in range(5)]
    assert len({p.partition for p in positions}) == 1  # one session, one partition
    assert [p.offset for p in positions] == sorted(p.offset for p in positions)
    records = await read_all(settings, topic, 5)
    headers = dict(records[0].headers)  # type: ignore[attr-defined]
    assert headers["event_type"] == b"conversation.message.received"
    assert trace_id_of(headers["traceparent"].decode()) is not None


async def test_loop_handles_dead_letters_and_commits(
    settings: CommonSettings, kafka_topics: Topics
) -> None:
    (topic,) = await kafka_topics("loop", partitions=2)
    await ensure_topics(settings.kafka.bootstrap, [dlq_topic(topic)], 1)
    group = f"g-{uuid.uuid4().hex[:8]}"
    seen: list[str] = []
    two_seen = asyncio.Event()

    async def handler(ev: Envelope, record: Record) -> None:
        if ev.payload["text"] == "boom":
            raise ToolError("handler refused this one")
        seen.append(ev.payload["text"])
        if len(seen) == 2:
            two_seen.set()

    async with KafkaEventBus(settings.kafka) as bus:
        await bus.publish(topic, event("s-a", "one"))
        await bus.publish_raw(topic, b"s-a", b"{not json", {})
        await bus.publish(topic, event("s-a", "boom"))
        await bus.publish(topic, event("s-a", "two"))
        loop = KafkaConsumerLoop(
            settings.kafka, topics=[topic], group_id=group, handler=handler, bus=bus
        )
        runner = asyncio.create_task(loop.run())
        await asyncio.wait_for(two_seen.wait(), 30)
        await loop.shutdown()
        await runner

    assert seen == ["one", "two"]  # in order, the bad ones skipped
    dead = await read_all(settings, dlq_topic(topic), 2)
    reasons = sorted(dict(r.headers)["dlq_reason"].decode() for r in dead)  # type: ignore[attr-defined]
    assert reasons[0].startswith("ToolError: handler refused")
    assert reasons[1].startswith("malformed: value is not JSON")
    # everything, including the dead-lettered records, is committed
    check = AIOKafkaConsumer(bootstrap_servers=settings.kafka.bootstrap, group_id=group)
    await check.start()
    try:
        committed = [await check.committed(TopicPartition(topic, p)) for p in (0, 1)]
    finally:
        await check.stop()
    assert sum(c or 0 for c in committed) == 4
