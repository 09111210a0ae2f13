"""The tools an executor offers, by name, with the JSON Schemas the model sees."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from somaagent.domain.errors import ToolError
from somaagent.tools.base import Tool, tool_schema


class ToolRegistry:
    """Name -> tool. An unknown name is a ToolError that lists what exists."""

    def __init__(self, tools: Iterable[Tool] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        for tool in tools:
            self.add(tool)

    def add(self, tool: Tool) -> None:
        if tool.name in self._tools:
            raise ValueError(f"tool {tool.name!r} is registered twice")
        self._tools[tool.name] = tool

    def get(self, name: str) -> Tool:
        try:
            return self._tools[name]
        except KeyError:
            known = ", ".join(sorted(self._tools)) or "none"
            raise ToolError(f"unknown tool {name!r} (available: {known})") from None

    def names(self) -> list[str]:
        return sorted(self._tools)

    def schemas(self) -> list[dict[str, Any]]:
        """OpenAI-style `tools=[...]` entries for every registered tool."""
        return [tool_schema(self._tools[n]) for n in self.names()]
