"""Group-less readers of conversation.outbound for the gateway's WebSocket fan-out.

Every gateway instance must see every outbound event of the sessions its clients watch, so
none of them joins a consumer group: `OutboundFanout` assigns itself every partition of the
topic, starts at the end and hands each record to a dispatch callback; `read_partition`
reads one partition from a given offset up to the end it saw when it started, to replay what
a reconnecting client missed. All events of a session share one partition (the key is the
session id), so a partition offset orders a session's events totally.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import orjson
import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from aiokafka.partitioner import murmur2

from somaagent.domain.errors import BackendTimeoutError, BackendUnavailableError
from somaagent.settings import KafkaSettings

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class OutboundRecord:
    partition: int
    offset: int
    session_id: str
    value: bytes
    timestamp_ms: int


def partition_for(session_id: str, partitions: int) -> int:
    """The partition Kafka's default partitioner gives this session id as key."""
    return int(murmur2(session_id.encode()) & 0x7FFFFFFF) % partitions


def _consumer(settings: KafkaSettings) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        request_timeout_ms=int(settings.request_timeout_s * 1000),
        fetch_max_wait_ms=100,
    )


def _record(msg: Any) -> OutboundRecord | None:
    """A keyed record, or None for one without key or value (nothing to route) and for one
    whose value is not a JSON object (logged and skipped: never spliced into a client's frame)."""
    if msg.key is None or msg.value is None:
        return None
    if not _json_object(msg.value):
        log.warning("gateway.outbound.malformed", partition=msg.partition, offset=msg.offset)
        return None
    return OutboundRecord(
        msg.partition, msg.offset, msg.key.decode("utf-8", "replace"), msg.value, msg.timestamp
    )


def _json_object(value: bytes) -> bool:
    try:
        return isinstance(orjson.loads(value), dict)
    except orjson.JSONDecodeError:
        return False


async def _partitions(bootstrap: str, topic: str) -> list[int]:
    """The topic's partition ids, waiting while a fresh topic's metadata propagates."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        while True:
            described = await admin.describe_topics([topic])
            found = [t for t in described if t["topic"] == topic and t["error_code"] == 0]
            if found and found[0]["partitions"]:
                return sorted(p["partition"] for p in found[0]["partitions"])
            await asyncio.sleep(0.2)
    finally:
        await admin.close()


async def _start(
    consumer: AIOKafkaConsumer, timeout_s: float, topic: str, settings: KafkaSettings | None
) -> list[int]:
    """Start the consumer; with `settings`, also return the topic's partition ids."""
    try:
        async with asyncio.timeout(timeout_s):
            await consumer.start()
            return [] if settings is None else await _partitions(settings.bootstrap, topic)
    except TimeoutError as exc:
        await consumer.stop()
        raise BackendTimeoutError(f"kafka: {topic} not available within {timeout_s} s") from exc
    except (KafkaError, OSError) as exc:
        await consumer.stop()
        raise BackendUnavailableError(f"kafka unreachable: {exc}") from exc


class OutboundFanout:
    """Reads every partition of `topic` from its end and dispatches each keyed record.

    `dispatch` is called in offset order per partition, from the task running `run()`.
    `position(p)` is the next offset of partition p that has not been dispatched yet.
    """

    def __init__(
        self, settings: KafkaSettings, topic: str, dispatch: Callable[[OutboundRecord], None]
    ) -> None:
        self._settings = settings
        self._topic = topic
        self._dispatch = dispatch
        self._consumer = _consumer(settings)
        self._positions: dict[int, int] = {}
        self.partitions = 0

    async def start(self) -> None:
        ids = await _start(
            self._consumer, self._settings.request_timeout_s, self._topic, self._settings
        )
        tps = [TopicPartition(self._topic, p) for p in ids]
        self._consumer.assign(tps)
        ends = await self._consumer.end_offsets(tps)
        for tp in tps:
            self._consumer.seek(tp, ends[tp])
            self._positions[tp.partition] = ends[tp]
        self.partitions = len(ids)

    async def stop(self) -> None:
        await self._consumer.stop()

    async def ping(self) -> None:
        """A metadata round trip to the broker (readiness)."""
        try:
            await self._consumer.topics()
        except KafkaError as exc:
            raise BackendUnavailableError(f"kafka metadata request failed: {exc}") from exc

    def position(self, partition: int) -> int:
        return self._positions[partition]

    async def run(self) -> None:
        """Dispatch records until cancelled."""
        while True:
            try:
                batches = await self._consumer.getmany(timeout_ms=1000)
            except KafkaError as exc:
                raise BackendUnavailableError(f"kafka fan-out read failed: {exc}") from exc
            for tp, messages in batches.items():
                for msg in messages:
                    record = _record(msg)
                    self._positions[tp.partition] = msg.offset + 1
                    if record is not None:
                        self._dispatch(record)


async def read_partition(
    settings: KafkaSettings, topic: str, partition: int, start: int, *, timeout_s: float = 10.0
) -> AsyncIterator[OutboundRecord]:
    """Records of one partition from offset `start` up to the end seen when it started.

    `timeout_s` bounds start-up and each fetch, not the time the caller spends per record.
    """
    consumer = _consumer(settings)
    await _start(consumer, timeout_s, topic, None)
    try:
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        end = (await consumer.end_offsets([tp]))[tp]
        if start >= end:
            return
        consumer.seek(tp, max(start, 0))
        while True:
            async with asyncio.timeout(timeout_s):
                batch = await consumer.getmany(tp, timeout_ms=500)
            for msg in batch.get(tp, []):
                record = _record(msg)
                if record is not None and msg.offset < end:
                    yield record
                if msg.offset >= end - 1:
                    return
            if await consumer.position(tp) >= end:
                return
    except TimeoutError as exc:
        raise BackendTimeoutError(f"kafka resume read of {topic}[{partition}] timed out") from exc
    except KafkaError as exc:
        raise BackendUnavailableError(f"kafka resume read failed: {exc}") from exc
    finally:
        await consumer.stop()
