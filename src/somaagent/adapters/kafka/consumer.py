"""KafkaConsumerLoop: a consumer group member that commits only after the effect.

Records of one partition are handled one at a time, in order (one partition holds whole
sessions, since events are keyed by session id); up to `max_in_flight` partitions are
handled at once. A partition being handled is paused, so nothing more is fetched for it
until its batch is done: that is the back-pressure. Each offset is committed after its
handler returned. A record that is not a valid envelope, or whose handler keeps failing,
goes to `<topic>.dlq` with the reason and the loop carries on.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

import orjson
import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError

from somaagent.adapters.kafka.metrics import DLQ_RECORDS, forget_lag, record_lag
from somaagent.adapters.kafka.producer import KafkaEventBus
from somaagent.domain.bus import Handler, Record
from somaagent.domain.constants import dlq_topic
from somaagent.domain.errors import BackendUnavailableError, SomaError, ValidationError
from somaagent.domain.events import Envelope
from somaagent.domain.serialization import envelope_from_dict
from somaagent.settings import KafkaSettings
from somaagent.telemetry.spans import consuming

log = structlog.get_logger(__name__)

RETRIES = 3
#: The fetch long-poll. One fetch per broker is in flight at a time, so a partition resumed
#: after its batch waits for the current one: the next message of a session waited 30-60 ms
#: at 50 ms (20-50 ms of platform delay on a warm turn), 13-23 ms at 10 ms. An idle worker
#: uses 1.7% of a core at 50 ms, 2.7% at 20 ms, 4% at 10 ms.
FETCH_WAIT_MS = 20
RETRY_BACKOFF_S = 0.5


def to_record(msg: Any) -> Record:
    headers = {k: v.decode("utf-8", "replace") for k, v in (msg.headers or [])}
    return Record(
        topic=msg.topic,
        partition=msg.partition,
        offset=msg.offset,
        key=msg.key,
        timestamp_ms=msg.timestamp,
        headers=headers,
    )


def parse_envelope(value: bytes | None) -> Envelope:
    """Decode, upcast and validate a record value; raises ValueError naming what is wrong
    (not JSON, a bad envelope field, an unknown type or version, a bad payload field)."""
    if value is None:
        raise ValueError("record has no value")
    try:
        data = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"value is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError("value is not a JSON object")
    try:
        return envelope_from_dict(data)
    except ValidationError as exc:
        raise ValueError(exc.message) from exc


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, loop: KafkaConsumerLoop) -> None:
        self._loop = loop

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        await self._loop.drain(set(revoked))
        forget_lag(self._loop.group_id, revoked)

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        return None


class KafkaConsumerLoop:
    def __init__(
        self,
        settings: KafkaSettings,
        *,
        topics: Sequence[str],
        group_id: str,
        handler: Handler,
        bus: KafkaEventBus,
        max_in_flight: int = 8,
        max_batch: int = 50,
        parse: Any = parse_envelope,
    ) -> None:
        self._settings = settings
        self._topics = list(topics)
        self._group_id = group_id
        self._handler = handler
        self._bus = bus
        self._max_in_flight = max_in_flight
        self._max_batch = max_batch
        self._parse = parse
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.bootstrap,
            group_id=group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_interval_ms=600_000,
            session_timeout_ms=10_000,
            heartbeat_interval_ms=3_000,
            # longer than drain()'s 30 s on revoke: at the default (session_timeout_ms) a
            # worker still draining was dropped from the group, its turns restarted elsewhere
            # while the old attempt ran, and the rejoin started the cycle again
            rebalance_timeout_ms=60_000,
            # short long-polls: a partition resumed after its handler finished is fetched
            # again within ~FETCH_WAIT_MS instead of waiting out the broker's default 500 ms
            fetch_max_wait_ms=FETCH_WAIT_MS,
        )
        self._in_flight: dict[TopicPartition, asyncio.Task[None]] = {}
        self._stopping = asyncio.Event()
        self._commit_lock = asyncio.Lock()
        self._running = False

    @property
    def consumer(self) -> AIOKafkaConsumer:
        return self._consumer

    @property
    def group_id(self) -> str:
        return self._group_id

    async def run(self) -> None:
        """Consume until shutdown(); then drain in-flight work and close."""
        try:
            await self._consumer.start()
        except (KafkaError, OSError) as exc:
            raise BackendUnavailableError(
                f"kafka unreachable at {self._settings.bootstrap}: {exc}"
            ) from exc
        self._consumer.subscribe(self._topics, listener=_Rebalance(self))
        self._running = True
        log.info("consumer.started", group=self._group_id, topics=self._topics)
        try:
            while not self._stopping.is_set():
                await self._fetch_and_dispatch()
        finally:
            await self.drain(None)
            await self._consumer.stop()
            self._running = False
            log.info("consumer.stopped", group=self._group_id)

    async def shutdown(self) -> None:
        """Stop fetching; run() then drains in-flight handlers and commits. Idempotent."""
        self._stopping.set()

    async def _fetch_and_dispatch(self) -> None:
        self._reap()
        if len(self._in_flight) >= self._max_in_flight:
            await asyncio.wait(
                self._in_flight.values(), timeout=0.5, return_when=asyncio.FIRST_COMPLETED
            )
            return
        batches = await self._consumer.getmany(
            timeout_ms=FETCH_WAIT_MS, max_records=self._max_batch
        )
        for tp, messages in batches.items():
            if not messages:
                continue
            self._consumer.pause(tp)
            record_lag(self._group_id, tp, self._consumer.highwater(tp), messages[0].offset)
            self._in_flight[tp] = asyncio.create_task(self._handle_partition(tp, messages))

    def _reap(self) -> None:
        for tp, task in list(self._in_flight.items()):
            if task.done():
                del self._in_flight[tp]
                if tp in self._consumer.assignment():
                    self._consumer.resume(tp)

    async def drain(self, partitions: set[TopicPartition] | None, deadline_s: float = 30.0) -> None:
        """Wait for in-flight handlers (of `partitions`, or all) with a deadline."""
        tasks = [t for tp, t in self._in_flight.items() if partitions is None or tp in partitions]
        if not tasks:
            return
        _done, pending = await asyncio.wait(tasks, timeout=deadline_s)
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._reap()

    async def _handle_partition(self, tp: TopicPartition, messages: list[Any]) -> None:
        for msg in messages:
            if self._stopping.is_set() and not self._running:
                return
            await self._handle_one(msg)
            async with self._commit_lock:
                try:
                    await self._consumer.commit({tp: msg.offset + 1})
                except KafkaError as exc:
                    # the partition moved to another member; it re-reads from the last commit
                    log.warning("consumer.commit.failed", topic=tp.topic, error=str(exc))
                    return
            record_lag(self._group_id, tp, self._consumer.highwater(tp), msg.offset + 1)
        # fetch this partition again now, not after the loop's current getmany (up to
        # FETCH_WAIT_MS later): a request-reply road (tool calls) pays that wait per hop
        if tp in self._consumer.assignment():
            self._consumer.resume(tp)

    async def _handle_one(self, msg: Any) -> None:
        record = to_record(msg)
        with consuming(record.topic, record.partition, record.offset, record.headers):
            await self._parse_and_handle(msg, record)

    async def _parse_and_handle(self, msg: Any, record: Record) -> None:
        try:
            event = self._parse(msg.value)
        except ValueError as exc:
            await self._dead_letter(msg, record, f"malformed: {exc}")
            return
        for attempt in range(1, RETRIES + 1):
            try:
                await self._handler(event, record)
                return
            except asyncio.CancelledError:
                raise
            except SomaError as exc:
                if exc.retriable and attempt < RETRIES:
                    log.warning("consumer.handler.retry", attempt=attempt, error=exc.message)
                    await asyncio.sleep(RETRY_BACKOFF_S * attempt)
                    continue
                await self._dead_letter(msg, record, f"{type(exc).__name__}: {exc.message}")
                return
            except Exception as exc:  # the one per-message catch-all: log, dead-letter, go on
                log.exception("consumer.handler.failed", topic=record.topic, offset=record.offset)
                await self._dead_letter(msg, record, f"{type(exc).__name__}: {exc}")
                return

    async def _dead_letter(self, msg: Any, record: Record, reason: str) -> None:
        log.warning(
            "consumer.dead_lettered",
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            reason=reason[:500],
        )
        headers = {
            **record.headers,
            "dlq_reason": reason[:1000],
            "dlq_source": f"{record.topic}/{record.partition}/{record.offset}",
        }
        await self._bus.publish_raw(dlq_topic(record.topic), msg.key, msg.value or b"", headers)
        DLQ_RECORDS.labels(dlq_topic(record.topic)).inc()
