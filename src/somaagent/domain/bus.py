"""The event bus port: publish envelopes, consume them with commit-after-effect."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from somaagent.domain.events import Envelope


@dataclass(frozen=True)
class Position:
    """Where a published event landed: one partition keeps one session in order."""

    topic: str
    partition: int
    offset: int


@dataclass(frozen=True)
class Record:
    """A consumed record's coordinates and headers, handed to handlers with the envelope."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    timestamp_ms: int
    headers: dict[str, str] = field(default_factory=dict)


class EventBus(Protocol):
    async def publish(
        self, topic: str, event: Envelope, *, headers: dict[str, str] | None = None
    ) -> Position: ...


Handler = Callable[[Envelope, Record], Awaitable[None]]
