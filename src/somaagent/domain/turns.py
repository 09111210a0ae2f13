"""Messages, personas, sessions and the record of one conversation turn."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from somaagent.domain.events import new_id, utc_now
from somaagent.domain.memory import MemoryOperation
from somaagent.domain.policy import PolicyVerdict
from somaagent.domain.tools import ToolCall, ToolResult

Role = Literal["system", "user", "assistant", "tool"]


class Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    role: Role
    content: str
    tool_call_id: str | None = None
    tool_calls: list[ToolCall] = Field(default_factory=list)


class Persona(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    persona_id: str = Field(default="default", min_length=1, max_length=128)
    name: str = "Soma"
    system_prompt: str = "You are Soma, a concise and helpful assistant."
    tools: list[str] = Field(default_factory=list)
    #: SLM intent -> tool: a message classified as the intent (confidently) calls the tool.
    tool_intents: dict[str, str] = Field(default_factory=dict)
    #: tool -> {argument: SLM slot}: when the slots carry every mapped argument, the call
    #: is made with them and the chat model is not asked to write the arguments.
    tool_arguments: dict[str, dict[str, str]] = Field(default_factory=dict)


class Session(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    session_id: str = Field(default_factory=new_id, min_length=1, max_length=128)
    tenant_id: str = Field(min_length=1, max_length=128)
    persona_id: str = Field(default="default", min_length=1, max_length=128)
    title: str | None = None
    created_at: AwareDatetime = Field(default_factory=utc_now)


class Usage(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    prompt_tokens: int = Field(default=0, ge=0)
    completion_tokens: int = Field(default=0, ge=0)

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class ConversationTurn(BaseModel):
    """Everything one turn did: input, answer, costs, annotations, tools and verdicts."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    correlation_id: str = Field(min_length=1, max_length=128)
    session_id: str = Field(min_length=1, max_length=128)
    tenant_id: str = Field(min_length=1, max_length=128)
    persona_id: str = Field(default="default", min_length=1, max_length=128)
    user_message: str
    assistant_message: str = ""
    #: The user message as the answer step read it, when that was not the user's text (a
    #: tool round's grounded prompt: the result, then the question); the next turns'
    #: history shows the model this, so it keeps the result and the server's prompt cache
    #: still matches. None when the model read `user_message` itself, and in older turns.
    model_input: str | None = None
    model_profile: str = ""
    usage: Usage = Usage()
    ttft_s: float | None = Field(default=None, ge=0)
    latency_s: float | None = Field(default=None, ge=0)
    slm: dict[str, Any] = Field(default_factory=dict)
    tool_calls: list[ToolCall] = Field(default_factory=list)
    tool_results: list[ToolResult] = Field(default_factory=list)
    policy_verdicts: list[PolicyVerdict] = Field(default_factory=list)
    memory_operations: list[MemoryOperation] = Field(default_factory=list)
    #: Who chose the tool (slm or model) and how the answer was written (model,
    #: tool_answer, tool_retry, tool_template, save_confirmed, safety_refusal,
    #: prompt_withheld); None in older turns.
    routed_by: str | None = None
    answer_path: str | None = None
    status: Literal["completed", "error"] = "completed"
    error: str | None = None
    started_at: AwareDatetime = Field(default_factory=utc_now)
    completed_at: AwareDatetime = Field(default_factory=utc_now)
