"""Reading one session's events back from Kafka topics (for replay).

Events are keyed by session id, so a session lives on one partition of each topic: the
reader assigns that partition only, from an offset or a time, up to an offset, a time, or
(with follow) for as long as the caller keeps reading.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from somaagent.adapters.kafka.consumer import parse_envelope
from somaagent.adapters.kafka.outbound_fanout import partition_for
from somaagent.domain.errors import BackendUnavailableError, NotFoundError
from somaagent.domain.events import Envelope
from somaagent.settings import KafkaSettings


@dataclass(frozen=True)
class KafkaRange:
    from_offset: int | None = None
    to_offset: int | None = None
    since_ms: int | None = None
    until_ms: int | None = None
    follow: bool = False


@dataclass(frozen=True)
class KafkaEvent:
    topic: str
    partition: int
    offset: int
    envelope: Envelope


async def _start(settings: KafkaSettings, topics: Sequence[str]) -> AIOKafkaConsumer:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap, group_id=None, enable_auto_commit=False
    )
    try:
        async with asyncio.timeout(settings.request_timeout_s):
            await consumer.start()
    except (TimeoutError, KafkaError, OSError) as exc:
        await consumer.stop()
        raise BackendUnavailableError(f"kafka unreachable at {settings.bootstrap}: {exc}") from exc
    known = await consumer.topics()
    missing = [t for t in topics if t not in known]
    if missing:
        await consumer.stop()
        raise NotFoundError(f"kafka has no topic {', '.join(missing)}")
    return consumer


async def _seek(consumer: AIOKafkaConsumer, tps: list[TopicPartition], rng: KafkaRange) -> None:
    if rng.since_ms is not None:
        found = await consumer.offsets_for_times({tp: rng.since_ms for tp in tps})
        ends = await consumer.end_offsets(tps)
        for tp in tps:
            hit = found.get(tp)
            consumer.seek(tp, hit.offset if hit is not None else ends[tp])
        return
    for tp in tps:
        consumer.seek(tp, max(rng.from_offset or 0, 0))


async def read_session_events(
    settings: KafkaSettings, topics: Sequence[str], session_id: str, rng: KafkaRange
) -> AsyncIterator[KafkaEvent]:
    """The session's events on `topics` (malformed records skipped), in offset order per topic."""
    consumer = await _start(settings, topics)
    try:
        tps = [
            TopicPartition(
                t, partition_for(session_id, len(consumer.partitions_for_topic(t) or {0}))
            )
            for t in topics
        ]
        consumer.assign(tps)
        await _seek(consumer, tps, rng)
        ends = await consumer.end_offsets(tps)
        limit = {
            tp: ends[tp] if rng.to_offset is None else min(rng.to_offset + 1, ends[tp])
            for tp in tps
        }
        async for item in _records(consumer, tps, limit, session_id, rng):
            yield item
    finally:
        await consumer.stop()


async def _records(
    consumer: AIOKafkaConsumer,
    tps: list[TopicPartition],
    limit: dict[TopicPartition, int],
    session_id: str,
    rng: KafkaRange,
) -> AsyncIterator[KafkaEvent]:
    while True:
        open_tps = [tp for tp in tps if rng.follow or await consumer.position(tp) < limit[tp]]
        if not open_tps:
            return
        batch = await consumer.getmany(*open_tps, timeout_ms=500)
        for tp, messages in batch.items():
            for msg in messages:
                if not rng.follow and msg.offset >= limit[tp]:
                    continue
                if rng.until_ms is not None and msg.timestamp > rng.until_ms:
                    continue
                try:
                    event = parse_envelope(msg.value)
                except ValueError:
                    continue
                if event.session_id == session_id:
                    yield KafkaEvent(tp.topic, tp.partition, msg.offset, event)
