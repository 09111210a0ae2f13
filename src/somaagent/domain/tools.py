"""Tool calls the model asks for and the results the executor reports."""

from __future__ import annotations

from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from somaagent.domain.events import new_id, utc_now
from somaagent.domain.policy import PolicyVerdict

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
    #: For a call the policy held: the admin's resolution (allow or deny, who and why).
    policy_verdict: PolicyVerdict | None = None


# --- The sandbox port: run one command in isolation and report what happened. ---

#: Host uid/gid that sandbox launchers and everything under them run as ("nobody").
SANDBOX_UID = 65534

SandboxBackend = Literal["bwrap", "gvisor", "docker"]
KillReason = Literal["timeout", "memory", "pids", "cpu", "file_size", "disk_quota"]


class SandboxLimits(BaseModel):
    """Resource caps for one execution; every cap is enforced by the kernel."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    wall_timeout_s: float = Field(default=30.0, gt=0, le=600)
    cpu_seconds: int = Field(default=30, ge=1, le=3600)
    memory_bytes: int = Field(default=512 * 1024 * 1024, ge=16 * 1024 * 1024)
    address_space_bytes: int = Field(default=2 * 1024 * 1024 * 1024, ge=64 * 1024 * 1024)
    max_pids: int = Field(default=64, ge=4, le=4096)
    file_size_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    open_files: int = Field(default=256, ge=16, le=65536)
    max_output_bytes: int = Field(default=256 * 1024, ge=1024, le=16 * 1024 * 1024)
    workspace_quota_bytes: int = Field(default=256 * 1024 * 1024, ge=1024 * 1024)


class SandboxSpec(BaseModel):
    """One command to run: argv inside the sandbox, its work directory on the host."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    argv: list[str] = Field(min_length=1)
    workdir: str = Field(min_length=1, description="host path bind-mounted read-write")
    stdin: bytes = b""
    env: dict[str, str] = Field(default_factory=dict)
    limits: SandboxLimits = SandboxLimits()


class SandboxResult(BaseModel):
    """What the sandboxed command did; `killed` names why the sandbox ended it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    exit_code: int | None
    stdout: str
    stderr: str
    truncated: bool
    duration_s: float = Field(ge=0)
    killed: KillReason | None = None

    @property
    def status(self) -> ToolStatus:
        if self.killed == "timeout":
            return "timeout"
        if self.killed is not None:
            return "killed"
        return "ok" if self.exit_code == 0 else "error"


@runtime_checkable
class ToolSandbox(Protocol):
    """A backend that runs one command in a fresh, isolated sandbox."""

    @property
    def name(self) -> SandboxBackend: ...

    async def run(self, spec: SandboxSpec) -> SandboxResult: ...


# --- Ports of the tool executor: the execution ledger and the attachment store. ---

ClaimState = Literal["claimed", "done", "busy", "abandoned"]


class Claim(BaseModel):
    """What claiming a request found: ours to run, already done, or someone else's."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    state: ClaimState
    #: The stored result when state == "done".
    result: ToolResult | None = None


class ExecutionLedger(Protocol):
    """Idempotency by request id: a request is claimed before it runs, once."""

    async def claim(self, call: ToolCall, owner: str, lease_s: float) -> Claim: ...

    async def finish(self, call: ToolCall, result: ToolResult) -> ToolResult: ...

    async def renew(self, call: ToolCall, owner: str, lease_s: float) -> bool:
        """Extend `owner`'s lease on a running request; False when it is no longer theirs."""
        ...

    async def reopen(self, call: ToolCall, owner: str, lease_s: float) -> bool:
        """Claim again a request whose stored result is "denied" (after a policy release)."""
        ...


class AttachmentStore(Protocol):
    """Durable file contents keyed by sha256, named per tenant and session."""

    async def put(
        self, tenant_id: str, session_id: str, name: str, content: bytes, media_type: str
    ) -> Attachment: ...

    async def get(self, tenant_id: str, attachment_id: str) -> tuple[Attachment, bytes]: ...


class SearchHit(BaseModel):
    """One ranked web_search result."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    title: str
    url: str
    snippet: str
    score: float = 0.0


class SearchDocument(BaseModel):
    """One page of a local search corpus."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str = Field(min_length=1)
    title: str
    body: str


class SearchBackend(Protocol):
    """Where web_search looks: a local full-text corpus or a SearXNG instance."""

    async def search(self, query: str, limit: int) -> list[SearchHit]: ...
