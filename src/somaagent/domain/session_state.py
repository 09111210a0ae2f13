"""A session's context rebuilt from its events: pure, deterministic replay.

`replay(events)` folds stored events into a SessionState; `apply` adds one more. The
state keeps the last `window` turns (with their SLM annotations), the running summary,
attachments and messages still waiting for an answer, so it stays small however long
the session is. A snapshot is just this state serialised at some seq.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Final

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from somaagent.domain.event_store import StoredEvent
from somaagent.domain.event_types import (
    MESSAGE_RECEIVED,
    SESSION_CREATED,
    SUMMARY_CREATED,
    TOOL_RESULT_RECEIVED,
    TURN_COMPLETED,
    MessageReceived,
    SessionCreated,
    SummaryCreated,
)
from somaagent.domain.serialization import payload_as
from somaagent.domain.tools import Attachment, ToolResult
from somaagent.domain.turns import ConversationTurn, Message

DEFAULT_WINDOW: Final = 20
MAX_ATTACHMENTS: Final = 50


class RecentTurn(BaseModel):
    """What the context keeps of one completed turn."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    seq: int
    correlation_id: str
    user_message: str
    assistant_message: str
    #: What the model read as the user message, when not `user_message` (see ConversationTurn).
    model_input: str | None = None
    slm: dict[str, Any] = Field(default_factory=dict)
    status: str = "completed"


class PendingMessage(BaseModel):
    """A user message received whose turn has not completed yet."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    seq: int
    correlation_id: str | None
    text: str


class SessionState(BaseModel):
    """The rehydrated context of one session at `version` (its last applied seq)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    session_id: str
    tenant_id: str
    persona_id: str = "default"
    title: str | None = None
    version: int = Field(default=0, ge=0)
    window: int = Field(default=DEFAULT_WINDOW, ge=1)
    turn_count: int = 0
    summary: str | None = None
    summary_through_seq: int = 0
    recent_turns: list[RecentTurn] = Field(default_factory=list)
    pending: list[PendingMessage] = Field(default_factory=list)
    attachments: list[Attachment] = Field(default_factory=list)
    last_event_at: AwareDatetime | None = None

    def messages(self) -> list[Message]:
        """Recent turns as chat messages, oldest first, then unanswered user messages."""
        out: list[Message] = []
        for turn in self.recent_turns:
            out.append(Message(role="user", content=turn.model_input or turn.user_message))
            if turn.assistant_message:
                out.append(Message(role="assistant", content=turn.assistant_message))
        out.extend(Message(role="user", content=p.text) for p in self.pending)
        return out

    def unsummarized_turns(self) -> list[RecentTurn]:
        return [t for t in self.recent_turns if t.seq > self.summary_through_seq]


def _created(state: SessionState, event: StoredEvent) -> dict[str, Any]:
    return {"title": payload_as(event.envelope, SessionCreated).title}


def _message(state: SessionState, event: StoredEvent) -> dict[str, Any]:
    body = payload_as(event.envelope, MessageReceived)
    pending = PendingMessage(
        seq=event.seq, correlation_id=event.envelope.correlation_id, text=body.text
    )
    return {
        "pending": [*state.pending, pending],
        "attachments": _bounded(state.attachments, body.attachments),
    }


def _turn(state: SessionState, event: StoredEvent) -> dict[str, Any]:
    turn = payload_as(event.envelope, ConversationTurn)
    recent = RecentTurn(
        seq=event.seq,
        correlation_id=turn.correlation_id,
        user_message=turn.user_message,
        assistant_message=turn.assistant_message,
        model_input=turn.model_input,
        slm=turn.slm,
        status=turn.status,
    )
    produced = [a for r in turn.tool_results for a in r.attachments]
    return {
        "turn_count": state.turn_count + 1,
        "recent_turns": [*state.recent_turns, recent][-state.window :],
        "pending": [p for p in state.pending if p.correlation_id != turn.correlation_id],
        "attachments": _bounded(state.attachments, produced),
    }


def _summary(state: SessionState, event: StoredEvent) -> dict[str, Any]:
    body = payload_as(event.envelope, SummaryCreated)
    return {"summary": body.summary, "summary_through_seq": body.through_seq}


def _tool_result(state: SessionState, event: StoredEvent) -> dict[str, Any]:
    result = payload_as(event.envelope, ToolResult)
    return {"attachments": _bounded(state.attachments, result.attachments)}


def _bounded(have: list[Attachment], new: list[Attachment]) -> list[Attachment]:
    if not new:
        return have
    return [*have, *new][-MAX_ATTACHMENTS:]


_APPLY: dict[str, Callable[[SessionState, StoredEvent], dict[str, Any]]] = {
    SESSION_CREATED: _created,
    MESSAGE_RECEIVED: _message,
    TURN_COMPLETED: _turn,
    SUMMARY_CREATED: _summary,
    TOOL_RESULT_RECEIVED: _tool_result,
}


def apply(state: SessionState, event: StoredEvent) -> SessionState:
    """The state after one more event; events at or below `version` are ignored."""
    if event.seq <= state.version:
        return state
    handler = _APPLY.get(event.envelope.type)
    changes = handler(state, event) if handler else {}
    changes["version"] = event.seq
    changes["last_event_at"] = event.envelope.occurred_at
    return state.model_copy(update=changes)


def replay(
    events: Iterable[StoredEvent],
    state: SessionState | None = None,
    *,
    window: int = DEFAULT_WINDOW,
) -> SessionState | None:
    """Fold events (in seq order) into a state; None when there are none and no start."""
    for event in events:
        if state is None:
            env = event.envelope
            state = SessionState(
                session_id=env.session_id,
                tenant_id=env.tenant_id,
                persona_id=env.persona_id,
                window=window,
            )
        state = apply(state, event)
    return state
