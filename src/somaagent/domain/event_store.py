"""The event store port: what the application needs from durable, ordered events."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from somaagent.domain.events import Envelope


@dataclass(frozen=True)
class StoredEvent:
    """An event as stored: its global `position` and its `seq` within its session."""

    position: int
    seq: int
    envelope: Envelope


@dataclass(frozen=True)
class AppendResult:
    """Where an append put its events.

    `stored` lists every event of the call in order, duplicates (already stored by an
    earlier append with the same event_id) with their existing position; `version` is
    the session's last seq after the append; `duplicates` counts the no-op events.
    """

    stored: tuple[StoredEvent, ...]
    version: int
    duplicates: int


class EventStore(Protocol):
    async def append(
        self, events: Sequence[Envelope], *, expected_version: int | None = None
    ) -> AppendResult: ...

    async def read_session(
        self, session_id: str, *, from_seq: int = 1, to_seq: int | None = None
    ) -> list[StoredEvent]: ...

    async def read_all(
        self, *, after_position: int = 0, limit: int = 1000
    ) -> list[StoredEvent]: ...
