"""What the conversation worker tells a session's watchers, event by event.

Every outbound event is an Envelope of type `conversation.stream` keyed by session id, with
a StreamUpdate payload. Within one turn (correlation_id) and one attempt, `seq` counts
0, 1, 2, ... with no gaps: status lines and deltas share the counter. Concatenating the
`delta`s of the last attempt by seq gives exactly the `text` of the `completed` event.

Restarts: if a worker dies mid-turn, the turn is run again from its durable state as a new
attempt. The new attempt first emits `restarted` (seq 0, attempt n+1); watchers drop what
they collected for earlier attempts of that turn. Nothing of an earlier attempt reaches
Postgres: only the completed turn is persisted, once.

A `tool_result` update carries the call's ToolCard (tool, status, duration, argument summary,
first lines of output, attachments), so a watcher can show what the tool did before the
model's answer streams.
"""

from __future__ import annotations

from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from somaagent.domain.event_types import register_event_type
from somaagent.domain.tool_card import ToolCard

STREAM_UPDATE: Final = "conversation.stream"

StreamStatus = Literal[
    "preprocessing",  # the SLM pipeline runs
    "thinking",  # the model is choosing what to do
    "streaming",  # a text delta
    "calling_tool",  # a tool call was published
    "tool_result",  # the tool answered; the model continues
    "waiting_for_policy",  # a policy check blocked the action; it waits for an admin
    "restarted",  # a new attempt of this turn begins; drop earlier attempts' deltas
    "completed",  # the end: full text, usage, latencies
    "error",  # the end: a reason
]
TERMINAL: Final = frozenset({"completed", "error"})


class StreamUpdate(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    status: StreamStatus
    correlation_id: str = Field(min_length=1)
    seq: int = Field(ge=0)
    attempt: int = Field(default=1, ge=1)
    delta: str | None = None
    text: str | None = None
    message: str | None = None
    reason: str | None = None
    model_profile: str | None = None
    tool: str | None = None
    usage: dict[str, int] | None = None
    latencies: dict[str, float] | None = None
    annotations: dict[str, Any] | None = None
    #: On `completed`: how the answer was written (model, tool_answer, tool_retry, ...).
    answer_path: str | None = None
    #: On `tool_result`: what the user sees of the call (status, output head, files).
    card: ToolCard | None = None


register_event_type(STREAM_UPDATE, StreamUpdate)
