"""MCP client adapter: third-party MCP servers, stdio ones inside the bubblewrap sandbox."""

from somaagent.adapters.mcp.catalogue import McpToolEntry, ServerCatalogue, platform_name
from somaagent.adapters.mcp.config import McpServerConfig, McpSettings, load_servers
from somaagent.adapters.mcp.manager import McpManager
from somaagent.adapters.mcp.server import McpCallError, McpServer, ServerStatus

__all__ = [
    "McpCallError",
    "McpManager",
    "McpServer",
    "McpServerConfig",
    "McpSettings",
    "McpToolEntry",
    "ServerCatalogue",
    "ServerStatus",
    "load_servers",
    "platform_name",
]
