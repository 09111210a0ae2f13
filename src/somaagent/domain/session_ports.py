"""Ports the session repository and history manager need (implemented in adapters/)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from somaagent.domain.event_store import AppendResult, StoredEvent
from somaagent.domain.events import Envelope
from somaagent.domain.session_state import RecentTurn, SessionState


class SessionEventLog(Protocol):
    """The part of the event store the session repository uses."""

    async def append(
        self, events: Sequence[Envelope], *, expected_version: int | None = None, conn: Any = None
    ) -> AppendResult: ...

    async def read_session(
        self, session_id: str, *, from_seq: int = 1, to_seq: int | None = None
    ) -> list[StoredEvent]: ...


class SnapshotStore(Protocol):
    async def latest(self, session_id: str, *, conn: Any = None) -> SessionState | None: ...

    async def save(self, state: SessionState, *, conn: Any = None) -> None: ...


class SessionCache(Protocol):
    """Serialised session state by session id; raises BackendError when unreachable."""

    async def get(self, session_id: str) -> bytes | None: ...

    async def put(self, session_id: str, value: bytes) -> None: ...

    async def drop(self, session_id: str) -> None: ...


class TokenCounter(Protocol):
    """Counts tokens the way the serving model's tokenizer does."""

    async def count(self, texts: Sequence[str]) -> list[int]: ...


class Summarizer(Protocol):
    """Condenses older turns (and the previous summary) into a new running summary."""

    async def summarize(
        self, previous: str | None, turns: Sequence[RecentTurn], *, max_tokens: int
    ) -> str: ...
