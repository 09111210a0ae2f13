"""KafkaEventBus: publish envelopes keyed by session id, with trace headers."""

from __future__ import annotations

from typing import Self

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from somaagent.adapters.kafka.tracing import new_traceparent
from somaagent.closing import AsyncClosing
from somaagent.domain.bus import Position
from somaagent.domain.constants import HEADER_EVENT_TYPE, HEADER_TRACEPARENT
from somaagent.domain.errors import BackendUnavailableError
from somaagent.domain.events import Envelope
from somaagent.settings import KafkaSettings
from somaagent.telemetry.spans import inject


def encode(event: Envelope) -> bytes:
    return orjson.dumps(event.model_dump(mode="json"))


class KafkaEventBus(AsyncClosing):
    """An idempotent, acks=all producer. Use `async with KafkaEventBus(settings) as bus`."""

    def __init__(self, settings: KafkaSettings, *, linger_ms: int = 0) -> None:
        self._settings = settings
        self._producer = AIOKafkaProducer(
            bootstrap_servers=settings.bootstrap,
            acks="all",
            enable_idempotence=True,
            linger_ms=linger_ms,
            request_timeout_ms=int(settings.request_timeout_s * 1000),
        )
        self._started = False

    async def start(self) -> None:
        if self._started:
            return
        try:
            await self._producer.start()
        except (KafkaError, OSError) as exc:
            await self._producer.stop()
            raise BackendUnavailableError(
                f"kafka unreachable at {self._settings.bootstrap}: {exc}"
            ) from exc
        self._started = True

    async def aclose(self) -> None:
        if self._started:
            self._started = False
            await self._producer.stop()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def publish(
        self, topic: str, event: Envelope, *, headers: dict[str, str] | None = None
    ) -> Position:
        all_headers = {HEADER_EVENT_TYPE: event.type, **(headers or {})}
        if not inject(all_headers):  # the current span's context, else a new trace
            all_headers.setdefault(HEADER_TRACEPARENT, new_traceparent())
        return await self.publish_raw(topic, event.session_id.encode(), encode(event), all_headers)

    async def publish_raw(
        self, topic: str, key: bytes | None, value: bytes, headers: dict[str, str]
    ) -> Position:
        try:
            meta = await self._producer.send_and_wait(
                topic,
                value,
                key=key,
                headers=[(k, v.encode()) for k, v in headers.items()],
            )
        except KafkaError as exc:
            raise BackendUnavailableError(f"kafka publish to {topic} failed: {exc}") from exc
        return Position(topic=meta.topic, partition=meta.partition, offset=meta.offset)
