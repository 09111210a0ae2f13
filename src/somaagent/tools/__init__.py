"""Tools the model may call; each declares a JSON Schema for its arguments."""

from somaagent.tools.base import Tool, ToolOutput, parse_arguments, tool_schema
from somaagent.tools.code_execution import CodeExecution, CodeExecutionArgs
from somaagent.tools.registry import ToolRegistry
from somaagent.tools.workspace import Workspaces

__all__ = [
    "CodeExecution",
    "CodeExecutionArgs",
    "Tool",
    "ToolOutput",
    "ToolRegistry",
    "Workspaces",
    "parse_arguments",
    "tool_schema",
]
