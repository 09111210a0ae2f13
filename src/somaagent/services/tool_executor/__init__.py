"""The tool executor process: tool.requests in, sandboxed runs, tool.results out."""

from somaagent.services.tool_executor.executor import ToolExecutor, parse_call
from somaagent.services.tool_executor.service import ToolExecutorService
from somaagent.services.tool_executor.settings import ToolExecutorSettings, ToolsSection

__all__ = [
    "ToolExecutor",
    "ToolExecutorService",
    "ToolExecutorSettings",
    "ToolsSection",
    "parse_call",
]
