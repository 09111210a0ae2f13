"""A turn in progress, as the worker keeps it durable between steps.

The state machine:

    running --tool published--> awaiting_tool --result--> running --> completed
       |                          |
       +--policy blocked--> awaiting_policy --released tool result--> running
       +--------------------------+--deadline passed--> failed

`attempt` counts how often the same step was started: a redelivered event whose handling
had begun (the worker died) starts attempt n+1, and watchers are told to drop what earlier
attempts streamed. `next_seq` is the next outbound sequence number of this attempt.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from somaagent.domain.events import utc_now
from somaagent.domain.llm import ChatResult
from somaagent.domain.memory import MemoryOperation
from somaagent.domain.policy import PolicyVerdict
from somaagent.domain.tools import ToolCall, ToolResult

TurnStatus = Literal["running", "awaiting_tool", "awaiting_policy", "completed", "failed"]
WAITING: frozenset[str] = frozenset({"awaiting_tool", "awaiting_policy"})
FINISHED: frozenset[str] = frozenset({"completed", "failed"})


class TurnState(BaseModel):
    model_config = ConfigDict(extra="forbid")

    correlation_id: str
    session_id: str
    tenant_id: str
    persona_id: str = "default"
    inbound_event_id: str
    status: TurnStatus = "running"
    attempt: int = Field(default=1, ge=1)
    next_seq: int = Field(default=0, ge=0)
    processing_event_id: str | None = None
    awaiting_request_id: str | None = None
    deadline: AwareDatetime | None = None
    user_text: str
    prompt: list[dict[str, Any]] = Field(default_factory=list)
    slm: dict[str, Any] = Field(default_factory=dict)
    model_profile: str = ""
    #: The dialogue profile the message asked for (None: the tenant's own).
    requested_profile: str | None = None
    tool_rounds: int = 0
    tool_calls: list[ToolCall] = Field(default_factory=list)
    tool_results: list[ToolResult] = Field(default_factory=list)
    policy_verdicts: list[PolicyVerdict] = Field(default_factory=list)
    memory_operations: list[MemoryOperation] = Field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    #: Seconds the SLM pre-processing took (reported with the turn's latencies).
    slm_s: float = 0.0
    #: Who chose the tool: the SLM's intent, or the dialogue model when the SLM was unsure.
    routed_by: Literal["slm", "model"] | None = None
    #: How the answer was written (see application.grounding.AnswerPath).
    answer_path: str | None = None
    started_at: AwareDatetime = Field(default_factory=utc_now)

    def count(self, result: ChatResult) -> None:
        """Add one model call's tokens; remember which profile answered."""
        self.prompt_tokens += result.usage.prompt_tokens
        self.completion_tokens += result.usage.completion_tokens
        if result.profile:
            self.model_profile = result.profile

    def take_seq(self) -> int:
        seq = self.next_seq
        self.next_seq += 1
        return seq

    def restart(self, event_id: str) -> None:
        """The same step begins again after a crash: a new attempt, seq from 0."""
        self.attempt += 1
        self.next_seq = 0
        self.processing_event_id = event_id
        self.status = "running"

    def wait_for(self, status: TurnStatus, request_id: str, deadline: datetime) -> None:
        self.status = status
        self.awaiting_request_id = request_id
        self.deadline = deadline
        self.processing_event_id = None

    def resume(self, event_id: str) -> None:
        self.status = "running"
        self.awaiting_request_id = None
        self.deadline = None
        self.processing_event_id = event_id


Claim = Literal["new", "resume", "restart", "duplicate"]
