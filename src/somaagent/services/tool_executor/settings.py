"""Settings of the tool executor (env prefix SOMA_, e.g. SOMA_TOOLS__METRICS_PORT=19102)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Self

from pydantic import BaseModel, Field, model_validator

from somaagent.adapters.mcp.config import McpSettings
from somaagent.application.policy.config import PolicyClientSettings
from somaagent.domain.tools import SandboxBackend, SandboxLimits
from somaagent.settings import CommonSettings, repo_root

SearchBackend = Literal["postgres", "searxng"]


class ToolsSection(BaseModel):
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(default=19102, ge=0, le=65535)
    #: Partitions handled at once by the consumer; fetching stops while all are busy.
    max_in_flight: int = Field(default=4, ge=1, le=256)
    #: Sandboxed runs at once in this process.
    max_concurrent_runs: int = Field(default=2, ge=1, le=256)
    #: How long a claim is honoured without a heartbeat (renewed every lease_s / 3 while the
    #: call runs) before a redelivery takes it over as abandoned (its executor died).
    lease_s: float = Field(default=15.0, ge=1, le=3600)
    #: Where per-session workspaces live; default `<state_dir>/workspaces`.
    workspace_dir: Path | None = None
    #: The sandbox backend per tool that runs code; unlisted tools use `default_backend`.
    default_backend: SandboxBackend = "bwrap"
    backends: dict[str, SandboxBackend] = Field(default_factory=dict)
    limits: SandboxLimits = SandboxLimits()
    #: Image for the docker backend (pulled by the operator).
    docker_image: str = "python:3.11-slim"
    search_backend: SearchBackend = "postgres"
    searxng_url: str | None = None
    search_timeout_s: float = Field(default=5.0, gt=0, le=60)
    http_timeout_s: float = Field(default=10.0, gt=0, le=120)
    #: The policy bundle whose http_allowed_domains http_fetch obeys; default `<repo>/policies`.
    policies_dir: Path | None = None

    def backend_for(self, tool: str) -> SandboxBackend:
        return self.backends.get(tool, self.default_backend)


class ToolExecutorSettings(CommonSettings):
    tools: ToolsSection = ToolsSection()
    policy: PolicyClientSettings = PolicyClientSettings()
    mcp: McpSettings = McpSettings()

    @model_validator(mode="after")
    def _search_backend_configured(self) -> Self:
        if self.tools.search_backend == "searxng" and not self.tools.searxng_url:
            raise ValueError("SOMA_TOOLS__SEARXNG_URL is required when search_backend=searxng")
        return self

    def workspace_root(self) -> Path:
        return self.tools.workspace_dir or self.state_dir / "workspaces"

    def mcp_servers_file(self) -> Path:
        return self.mcp.servers_file or repo_root() / "personas" / "mcp_servers.yml"

    def policies_root(self) -> Path:
        return self.tools.policies_dir or repo_root() / "policies"
