"""Outbound stream updates of one turn, numbered without gaps."""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import Histogram

from somaagent.domain.bus import EventBus
from somaagent.domain.constants import TOPIC_CONVERSATION_OUTBOUND
from somaagent.domain.event_types import make_event
from somaagent.domain.stream import StreamStatus, StreamUpdate
from somaagent.domain.turn_state import TurnState

DELTA_PUBLISH = Histogram(
    "conversation_delta_publish_seconds",
    "Time from a delta arriving from the model to Kafka acknowledging its outbound event.",
    buckets=(0.0005, 0.001, 0.002, 0.003, 0.004, 0.005, 0.006, 0.0075, 0.01, 0.02, 0.05, 0.1),
)


class Outbound:
    """Publishes StreamUpdates for `state`'s turn; seq comes from the durable turn state."""

    def __init__(
        self,
        bus: EventBus,
        state: TurnState,
        *,
        causation_id: str | None,
        topic: str = TOPIC_CONVERSATION_OUTBOUND,
    ) -> None:
        self._bus = bus
        self._state = state
        self._causation_id = causation_id
        self._topic = topic

    async def emit(self, status: StreamStatus, **fields: Any) -> None:
        state = self._state
        update = StreamUpdate(
            status=status,
            correlation_id=state.correlation_id,
            seq=state.take_seq(),
            attempt=state.attempt,
            **fields,
        )
        event = make_event(
            "conversation.stream",
            update,
            session_id=state.session_id,
            tenant_id=state.tenant_id,
            persona_id=state.persona_id,
            correlation_id=state.correlation_id,
            causation_id=self._causation_id,
        )
        await self._bus.publish(self._topic, event)

    async def delta(self, text: str, arrived: float) -> None:
        await self.emit("streaming", delta=text)
        DELTA_PUBLISH.observe(time.perf_counter() - arrived)
