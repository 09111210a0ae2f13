"""The registry of event types: name -> payload model and current schema version.

Every event the platform stores or publishes has a registered type. Producers build
envelopes with `make_event`; consumers read the typed body with `parse_payload`.
Other rooms register their own types with `register_event_type` at import time.

    conversation.message.received   MessageReceived (v2; v1 is upcast, see upcasting.py)
    conversation.turn.completed     ConversationTurn
    conversation.summary.created    SummaryCreated
    tool.call.requested             ToolCall
    tool.result.received            ToolResult
    policy.verdict.recorded         PolicyVerdict
    memory.operation.recorded       MemoryOperation
    session.created                 SessionCreated
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from somaagent.domain.errors import ValidationError
from somaagent.domain.events import CURRENT_SCHEMA_VERSIONS, Envelope
from somaagent.domain.memory import MemoryOperation
from somaagent.domain.policy import PolicyVerdict
from somaagent.domain.tools import Attachment, ToolCall, ToolResult
from somaagent.domain.turns import ConversationTurn

MESSAGE_RECEIVED: Final = "conversation.message.received"
TURN_COMPLETED: Final = "conversation.turn.completed"
SUMMARY_CREATED: Final = "conversation.summary.created"
TOOL_CALL_REQUESTED: Final = "tool.call.requested"
TOOL_RESULT_RECEIVED: Final = "tool.result.received"
POLICY_VERDICT_RECORDED: Final = "policy.verdict.recorded"
MEMORY_OPERATION_RECORDED: Final = "memory.operation.recorded"
SESSION_CREATED: Final = "session.created"

M = TypeVar("M", bound=BaseModel)


class MessageReceived(BaseModel):
    """A user's message as the gateway accepted it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    text: str = Field(min_length=1, max_length=200_000)
    attachments: list[Attachment] = Field(default_factory=list)
    #: The dialogue model profile the client chose for this turn (the OpenAI API's `model`);
    #: None: the tenant's own (its override, else the default).
    model_profile: str | None = Field(default=None, min_length=1, max_length=128)


class SummaryCreated(BaseModel):
    """A running summary of every turn up to and including `through_seq`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    summary: str = Field(min_length=1)
    through_seq: int = Field(ge=0)
    turns_summarized: int = Field(ge=0)
    model: str = ""


class SessionCreated(BaseModel):
    """A session was opened; the envelope carries its tenant and persona."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    title: str | None = Field(default=None, max_length=256)


@dataclass(frozen=True)
class EventType:
    name: str
    payload: type[BaseModel]
    version: int
    description: str


EVENT_TYPES: dict[str, EventType] = {}


def register_event_type(
    name: str, payload: type[BaseModel], version: int = 1, description: str = ""
) -> EventType:
    """Register (or re-register identically) an event type; returns its descriptor."""
    entry = EventType(name, payload, version, description or (payload.__doc__ or "").strip())
    existing = EVENT_TYPES.get(name)
    if existing is not None and (existing.payload, existing.version) != (payload, version):
        raise ValueError(f"event type {name!r} is already registered differently")
    EVENT_TYPES[name] = entry
    CURRENT_SCHEMA_VERSIONS[name] = version
    return entry


def event_type(name: str) -> EventType:
    """The descriptor of a registered type; ValidationError for an unknown one."""
    if name not in EVENT_TYPES:
        load_all_event_types()
    try:
        return EVENT_TYPES[name]
    except KeyError:
        raise ValidationError("type", f"unknown event type {name!r}") from None


def load_all_event_types() -> None:
    """Import every module of somaagent.domain, registering the types defined anywhere there.

    Event types are registered at import time by the module that defines their payload;
    register them in domain/ so that every process (and `soma schemas export`) knows them.
    """
    package = importlib.import_module("somaagent.domain")
    for info in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{info.name}")


def make_event(
    name: str,
    payload: BaseModel,
    *,
    session_id: str,
    tenant_id: str,
    persona_id: str = "default",
    correlation_id: str | None = None,
    causation_id: str | None = None,
    **extra: Any,
) -> Envelope:
    """An envelope of a registered type at its current version, built from a typed payload."""
    entry = event_type(name)
    if not isinstance(payload, entry.payload):
        raise ValidationError("payload", f"{name} carries {entry.payload.__name__}")
    return Envelope(
        type=name,
        schema_version=entry.version,
        session_id=session_id,
        tenant_id=tenant_id,
        persona_id=persona_id,
        correlation_id=correlation_id,
        causation_id=causation_id,
        payload=payload.model_dump(mode="json"),
        **extra,
    )


register_event_type(MESSAGE_RECEIVED, MessageReceived, 2)
register_event_type(TURN_COMPLETED, ConversationTurn)
register_event_type(SUMMARY_CREATED, SummaryCreated)
register_event_type(TOOL_CALL_REQUESTED, ToolCall)
register_event_type(TOOL_RESULT_RECEIVED, ToolResult)
register_event_type(POLICY_VERDICT_RECORDED, PolicyVerdict)
register_event_type(MEMORY_OPERATION_RECORDED, MemoryOperation)
register_event_type(SESSION_CREATED, SessionCreated)
