"""Tool calls the model asks for and the results the executor reports."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from somaagent.domain.events import new_id, utc_now

ToolStatus = Literal["ok", "error", "timeout", "killed", "denied", "invalid"]


class ToolCall(BaseModel):
    """A request to run one tool with arguments, on behalf of one turn."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    request_id: str = Field(default_factory=new_id, min_length=1, max_length=64)
    tool: str = Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")
    arguments: dict[str, Any] = Field(default_factory=dict)
    session_id: str = Field(min_length=1, max_length=128)
    tenant_id: str = Field(min_length=1, max_length=128)
    persona_id: str = Field(default="default", min_length=1, max_length=128)
    correlation_id: str = Field(min_length=1, max_length=128)
    #: The id the model gave the call (OpenAI `tool_calls[].id`), echoed in the result.
    call_id: str | None = None
    requested_at: AwareDatetime = Field(default_factory=utc_now)
    timeout_s: float = Field(default=30.0, gt=0, le=600)


class Attachment(BaseModel):
    """A file a tool produced or a user attached, stored durably by content hash."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    attachment_id: str = Field(default_factory=new_id)
    name: str = Field(min_length=1, max_length=255)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0)
    media_type: str = "application/octet-stream"


class ToolResult(BaseModel):
    """What running a tool produced."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    request_id: str
    tool: str
    call_id: str | None = None
    status: ToolStatus
    exit_code: int | None = None
    stdout: str = ""
    stderr: str = ""
    truncated: bool = False
    attachments: list[Attachment] = Field(default_factory=list)
    duration_s: float = Field(default=0.0, ge=0)
    reason: str | None = None
    #: Structured output for tools that return data rather than text (search hits, memories).
    data: dict[str, Any] | None = None
