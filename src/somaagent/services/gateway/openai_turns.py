"""One turn through the platform for the OpenAI API: publish the message, watch the stream.

The road is the native one: the message goes to the inbound topic as `POST
/v1/sessions/{id}/messages` sends it, and the turn's StreamUpdates come back through the
gateway's own outbound fan-out (StreamHub), the same subscription a WebSocket gets. The
subscription is registered before the message is published, so no update of the turn can
pass unseen.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
import structlog
from pydantic import ValidationError as PydanticValidationError

from somaagent.adapters.kafka.outbound_fanout import OutboundRecord
from somaagent.adapters.postgres.sessions import SessionRow
from somaagent.domain.event_types import MESSAGE_RECEIVED, MessageReceived, make_event
from somaagent.domain.stream import STREAM_UPDATE, TERMINAL, StreamUpdate
from somaagent.services.gateway.auth import Principal
from somaagent.services.gateway.hub import Subscription
from somaagent.services.gateway.openai_schema import OpenAiError
from somaagent.services.gateway.runtime import Runtime

log = structlog.get_logger(__name__)


def turn_update(record: OutboundRecord, correlation_id: str) -> StreamUpdate | None:
    """The record's StreamUpdate when it belongs to this turn, else None."""
    try:
        envelope: Any = orjson.loads(record.value)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(envelope, dict) or envelope.get("type") != STREAM_UPDATE:
        return None
    if envelope.get("correlation_id") != correlation_id:
        return None
    try:
        return StreamUpdate.model_validate(envelope.get("payload"))
    except PydanticValidationError:
        log.warning("gateway.openai.bad_update", correlation_id=correlation_id)
        return None


def turn_timeout(timeout_s: float) -> OpenAiError:
    return OpenAiError(
        504, "timeout", "turn_timeout", f"the turn did not finish within {timeout_s:g} s"
    )


class TurnWatch:
    """One turn of a session: `start` subscribes and publishes; `updates` yields to the end.

    Publishing happens before any answer starts, so a Kafka failure is a clean 503; the
    subscription is registered first, so no update of the turn can pass unseen.
    """

    def __init__(self, runtime: Runtime, session: SessionRow, correlation_id: str) -> None:
        self._runtime = runtime
        self._session = session
        self.correlation_id = correlation_id
        self._sub: Subscription | None = None

    async def start(self, who: Principal, text: str, profile: str | None) -> None:
        runtime, session = self._runtime, self._session
        self._sub = runtime.hub.subscribe(session.session_id)
        event = make_event(
            MESSAGE_RECEIVED,
            MessageReceived(text=text, model_profile=profile),
            session_id=session.session_id,
            tenant_id=who.tenant_id,
            persona_id=session.persona_id,
            correlation_id=self.correlation_id,
        )
        try:
            await runtime.bus.publish(runtime.settings.gateway.inbound_topic, event)
        except BaseException:
            self.close()
            raise
        runtime.metrics.messages_published.inc()

    async def updates(self) -> AsyncIterator[StreamUpdate]:
        """The turn's updates up to its terminal one; OpenAiError 504 past the timeout."""
        assert self._sub is not None, "start() first"
        timeout_s = self._runtime.settings.openai.turn_timeout_s
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                    record = await self._sub.get()
            except TimeoutError:
                raise turn_timeout(timeout_s) from None
            if record is None:  # this watcher fell a whole queue behind
                raise OpenAiError(
                    503, "server_error", "stream_overflow", "the answer stream fell behind"
                )
            update = turn_update(record, self.correlation_id)
            if update is None:
                continue
            yield update
            if update.status in TERMINAL:
                return

    def close(self) -> None:
        if self._sub is not None:
            self._runtime.hub.unsubscribe(self._sub)
            self._sub = None
