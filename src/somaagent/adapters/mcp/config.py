"""What an operator declares about MCP servers: personas/mcp_servers.yml and the executor's
MCP settings section.

    servers:
      time:                                   # tools become time_<tool>
        command: [.state/mcp-venv/bin/mcp-server-time, --local-timezone, UTC]
        mounts: [.state/mcp-venv]             # read-only inside the sandbox
      weather:
        url: https://mcp.example.com/mcp      # streamable HTTP, not sandboxed
        headers: {Authorization: "Bearer ..."}

A stdio server runs inside bubblewrap with no network unless `hosts` is non-empty, read-only
mounts of `mounts` (relative paths are taken from the repository root) and a writable
directory of its own. A bad file fails at start-up with the server and the field named.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Final, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from somaagent.domain.errors import ValidationError as SomaValidationError

#: Server names are the prefix of platform tool names (`^[a-z][a-z0-9_]*$`, <= 64 chars).
SERVER_NAME: Final = re.compile(r"^[a-z][a-z0-9]{0,23}$")


class McpServerConfig(BaseModel):
    """One declared server: a stdio command or a streamable-HTTP URL."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=SERVER_NAME.pattern)
    command: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    #: Hosts the server may reach; any entry gives the sandbox the host's network.
    hosts: list[str] = Field(default_factory=list)
    mounts: list[Path] = Field(default_factory=list)
    url: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    call_timeout_s: float | None = Field(default=None, gt=0, le=600)

    @model_validator(mode="after")
    def _one_transport(self) -> Self:
        if bool(self.command) == bool(self.url):
            raise ValueError("give exactly one of `command` (stdio) or `url` (streamable HTTP)")
        return self

    @property
    def transport(self) -> str:
        return "stdio" if self.command else "http"

    def resolved(self, root: Path) -> Self:
        """Relative mounts and a relative command path taken from `root`."""
        mounts = [m if m.is_absolute() else (root / m).resolve() for m in self.mounts]
        command = list(self.command)
        if command and "/" in command[0] and not command[0].startswith("/"):
            command[0] = str((root / command[0]).resolve())
        return self.model_copy(update={"mounts": mounts, "command": command})


class McpSettings(BaseModel):
    """The executor's MCP section (env SOMA_MCP__...)."""

    #: The server file; default `<repo>/personas/mcp_servers.yml` (absent: no servers).
    servers_file: Path | None = None
    call_timeout_s: float = Field(default=30.0, gt=0, le=600)
    start_timeout_s: float = Field(default=20.0, gt=0, le=300)
    #: Longest JSON-RPC message (one line) a stdio server may send; past it the server is
    #: restarted and the call fails with that reason.
    max_message_bytes: int = Field(default=4 * 1024 * 1024, ge=64 * 1024)
    #: Tools offered per server; a server listing more gets the first ones and an error.
    max_tools: int = Field(default=128, ge=1, le=4096)
    refresh_s: float = Field(default=60.0, gt=0)
    restart_min_s: float = Field(default=0.05, gt=0)
    restart_max_s: float = Field(default=30.0, gt=0)
    memory_bytes: int = Field(default=512 * 1024 * 1024, ge=32 * 1024 * 1024)
    max_pids: int = Field(default=64, ge=4, le=4096)


def parse_servers(raw: Any, root: Path) -> list[McpServerConfig]:
    """The servers of a parsed YAML document; ValidationError naming the server and field."""
    if raw is None:
        return []
    if not isinstance(raw, dict) or not isinstance(raw.get("servers") or {}, dict):
        raise SomaValidationError("servers", "expected a mapping `servers: {name: {...}}`")
    servers = []
    for name, entry in (raw.get("servers") or {}).items():
        try:
            server = McpServerConfig.model_validate({**(entry or {}), "name": name})
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(["servers", str(name), *(str(p) for p in first["loc"])])
            raise SomaValidationError(field, first["msg"]) from exc
        servers.append(server.resolved(root))
    return servers


def load_servers(path: Path, root: Path) -> list[McpServerConfig]:
    """The servers declared in `path`; none when the file does not exist."""
    if not path.exists():
        return []
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise SomaValidationError(str(path), f"not YAML: {exc}") from exc
    return parse_servers(raw, root)
