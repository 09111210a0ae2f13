"""MCP tools as platform tools: one `Tool` per catalogue entry of the McpManager.

The model sees the server's own input schema; arguments are checked against it (jsonschema)
before the call leaves the executor. A result maps onto the ToolOutput: text content into
stdout, structuredContent into data, images, audio and embedded resources into files (the
executor stores them as attachments), `isError` into status "error". A call that gets no
result (timeout, a server that died or sent a bad message) is a ToolOutput with that status
and the reason; it never raises into the executor.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from jsonschema.validators import validator_for
from pydantic import BaseModel, model_validator

from somaagent.adapters.mcp import McpCallError, McpManager, McpToolEntry
from somaagent.domain.errors import ToolError
from somaagent.domain.tools import SandboxLimits, ToolCall
from somaagent.tools.base import ToolOutput
from somaagent.tools.mcp_results import to_output
from somaagent.tools.registry import ToolRegistry


class McpArguments(BaseModel):
    """Arguments of an MCP tool: the JSON object, checked against the tool's live schema."""

    manager: ClassVar[McpManager]
    platform_name: ClassVar[str]
    payload: dict[str, Any]

    @classmethod
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:
        entry = cls.manager.entry(cls.platform_name)
        return entry.input_schema if entry is not None else {"type": "object"}

    @model_validator(mode="before")
    @classmethod
    def _against_schema(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            raise ValueError("arguments must be a JSON object")
        schema = cls.model_json_schema()
        error = next(iter(validator_for(schema)(schema).iter_errors(data)), None)
        if error is not None:
            where = ".".join(str(p) for p in error.absolute_path) or "arguments"
            raise ValueError(f"{where}: {error.message}")
        return {"payload": data}


class McpTool:
    """Base of the per-entry tool classes `tool_class` builds."""

    name: ClassVar[str]
    description: ClassVar[str]
    arguments: ClassVar[type[BaseModel]]

    def __init__(self, manager: McpManager, out_dir: Path, limits: SandboxLimits) -> None:
        self.manager = manager
        self.out_dir = out_dir
        self.limits = limits

    async def run(self, call: ToolCall, args: Any) -> ToolOutput:
        entry = self.manager.entry(self.name)
        if entry is None:
            raise ToolError(f"{self.name} is no longer offered by its MCP server")
        try:
            result = await self.manager.call(entry, args.payload)
        except McpCallError as exc:
            return ToolOutput(status=exc.status, reason=exc.reason)
        return await to_output(result, self.out_dir / call.request_id, self.limits)


def tool_class(manager: McpManager, entry: McpToolEntry) -> type[McpTool]:
    """A Tool class for one catalogue entry (name, description, live schema)."""
    arguments: type[McpArguments] = type(
        f"{entry.platform_name}_arguments", (McpArguments,), {"__module__": __name__}
    )
    arguments.manager = manager
    arguments.platform_name = entry.platform_name
    return type(
        f"{entry.platform_name}_tool",
        (McpTool,),
        {
            "name": entry.platform_name,
            "description": f"[{entry.server} MCP] {entry.description}",
            "arguments": arguments,
        },
    )


class McpToolset:
    """Keeps a ToolRegistry offering every tool of the manager's catalogue.

    New entries are added on each catalogue change; an entry that went away stays registered
    and answers "no longer offered" (status invalid).
    """

    def __init__(self, manager: McpManager, registry: ToolRegistry, out_dir: Path,
                 limits: SandboxLimits) -> None:  # fmt: skip
        self.manager = manager
        self.registry = registry
        self.out_dir = out_dir
        self.limits = limits
        self.added: set[str] = set()
        manager.subscribe(self._sync)

    def _sync(self, manager: McpManager) -> None:
        for entry in manager.entries():
            if entry.platform_name in self.added:
                continue
            self.registry.add(tool_class(manager, entry)(manager, self.out_dir, self.limits))
            self.added.add(entry.platform_name)
