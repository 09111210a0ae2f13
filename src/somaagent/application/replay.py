"""Replaying a session for an operator: filters and renderings (pure).

Events come from the event store or from Kafka; each is shown as one transcript line or
one JSON line. Stream updates are summarised (status lines, completed text); their deltas
are shown only when asked for.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from somaagent.domain.event_types import (
    MESSAGE_RECEIVED,
    POLICY_VERDICT_RECORDED,
    SUMMARY_CREATED,
    TOOL_CALL_REQUESTED,
    TOOL_RESULT_RECEIVED,
    TURN_COMPLETED,
)
from somaagent.domain.events import Envelope
from somaagent.domain.stream import STREAM_UPDATE

CLIP = 400


@dataclass(frozen=True)
class ReplayFilter:
    types: frozenset[str] = frozenset()
    correlation_id: str | None = None
    deltas: bool = False

    def keeps(self, event: Envelope) -> bool:
        if self.types and event.type not in self.types:
            return False
        if self.correlation_id and event.correlation_id != self.correlation_id:
            return False
        return not (
            event.type == STREAM_UPDATE
            and event.payload.get("status") == "streaming"
            and not self.deltas
        )


@dataclass(frozen=True)
class Origin:
    """Where a replayed event was read: the store (seq, position) or Kafka (offset)."""

    source: str
    where: dict[str, Any] = field(default_factory=dict)


def clip(text: str, limit: int = CLIP) -> str:
    one_line = " ".join(text.split())
    return one_line if len(one_line) <= limit else one_line[: limit - 1] + "…"


def _turn(p: dict[str, Any]) -> str:
    usage = p.get("usage") or {}
    tokens = f"{usage.get('prompt_tokens', 0)}+{usage.get('completion_tokens', 0)} tokens"
    latency = f"{p.get('latency_s') or 0:.2f}s"
    head = f"assistant [{p.get('model_profile') or '?'}, {tokens}, {latency}, {p.get('status')}]"
    return f"{head}: {clip(p.get('assistant_message') or p.get('error') or '')}"


def _stream(p: dict[str, Any]) -> str:
    status = p.get("status")
    body = p.get("delta") or p.get("text") or p.get("message") or p.get("reason") or ""
    return f"stream {status} #{p.get('seq')} (attempt {p.get('attempt', 1)}): {clip(str(body))}"


RENDERERS: dict[str, Callable[[dict[str, Any]], str]] = {
    MESSAGE_RECEIVED: lambda p: f"user: {clip(p.get('text', ''))}",
    TURN_COMPLETED: _turn,
    TOOL_CALL_REQUESTED: lambda p: (
        f"tool call {p.get('tool')} {clip(orjson.dumps(p.get('arguments', {})).decode())}"
    ),
    TOOL_RESULT_RECEIVED: lambda p: (
        f"tool result {p.get('tool')} {p.get('status')} exit={p.get('exit_code')}: "
        f"{clip(p.get('stdout') or p.get('stderr') or p.get('reason') or '')}"
    ),
    POLICY_VERDICT_RECORDED: lambda p: (
        f"policy {'allow' if p.get('allow') else 'deny'}: {'; '.join(p.get('reasons', []))}"
    ),
    SUMMARY_CREATED: lambda p: f"summary: {clip(p.get('summary', ''))}",
    STREAM_UPDATE: _stream,
}


def transcript_line(event: Envelope) -> str:
    """One readable line: time, turn (short), what happened."""
    when = event.occurred_at.strftime("%Y-%m-%d %H:%M:%S")
    turn = (event.correlation_id or "-")[:8]
    render = RENDERERS.get(event.type)
    text = render(event.payload) if render else f"{event.type} {clip(str(event.payload))}"
    return f"{when} [{turn}] {text}"


def json_line(event: Envelope, origin: Origin) -> str:
    body = {"source": origin.source, **origin.where, "event": event.model_dump(mode="json")}
    return orjson.dumps(body).decode()
