"""What a tool is: a name, a JSON Schema for its arguments, and an async run.

Each tool declares its arguments as a pydantic model; the model's JSON Schema is what the
LLM sees, and validating against it turns bad arguments into a ToolError that names the
field and the reason. A tool returns a ToolOutput; the executor turns that into the
published ToolResult (storing produced files as attachments on the way).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from somaagent.domain.errors import ToolError
from somaagent.domain.tools import KillReason, ToolCall, ToolStatus


@dataclass(frozen=True)
class ToolOutput:
    """A tool's raw outcome; `files` are host paths of files it produced."""

    status: ToolStatus
    stdout: str = ""
    stderr: str = ""
    exit_code: int | None = None
    truncated: bool = False
    reason: str | None = None
    data: dict[str, Any] | None = None
    files: list[Path] = field(default_factory=list)
    #: Which sandbox limit ended the run, if one did.
    killed: KillReason | None = None


class Tool(Protocol):
    """One tool the model may call."""

    name: ClassVar[str]
    description: ClassVar[str]
    arguments: ClassVar[type[BaseModel]]

    async def run(self, call: ToolCall, args: Any) -> ToolOutput: ...


def tool_schema(tool: Tool) -> dict[str, Any]:
    """The OpenAI-style function description the model sees."""
    return {
        "type": "function",
        "function": {
            "name": tool.name,
            "description": tool.description,
            "parameters": tool.arguments.model_json_schema(),
        },
    }


def parse_arguments(tool: Tool, arguments: dict[str, Any]) -> BaseModel:
    """Validate a call's arguments; ToolError naming the field and the reason otherwise."""
    try:
        return tool.arguments.model_validate(arguments)
    except PydanticValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "arguments"
        raise ToolError(f"invalid arguments for {tool.name}: {where}: {first['msg']}") from exc
