"""A real MCP server (stdio, the SDK's MCPServer) that the tests start inside the sandbox.

It probes the sandbox (open a TCP connection, read a file) and misbehaves on request (sleep
past a timeout, a result over the output limit, a line that is not JSON-RPC, thousands of
tools with colliding names), so the client is tested against a real process and real bytes.
Runs with the MCP servers' venv (.state/mcp-venv), not the project's.
"""

import os
import socket
import sys

import anyio
from mcp.server import stdio
from mcp.server.mcpserver import MCPServer

server = MCPServer("probe")


@server.tool()
def connect(host: str, port: int) -> str:
    """Open a TCP connection to host:port."""
    try:
        with socket.create_connection((host, port), timeout=2):
            return "connected"
    except OSError as exc:
        return f"failed: {exc}"


@server.tool()
def read_file(path: str) -> str:
    """Read the start of a file."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return "read: " + f.read(200)
    except OSError as exc:
        return f"failed: {exc}"


@server.tool()
async def sleep(seconds: float) -> str:
    """Sleep, then answer."""
    await anyio.sleep(seconds)
    return "slept"


@server.tool()
def echo(text: str) -> str:
    """Answer with the text."""
    return text


@server.tool()
def big(size: int) -> str:
    """Answer with `size` bytes of text (one JSON-RPC line)."""
    return "x" * size


@server.tool()
async def malformed() -> str:
    """Write a line that is not JSON-RPC to the wire, then wait."""
    # The SDK serves the wire from a private duplicate of fd 1 (fd 1 goes to stderr meanwhile).
    wire = stdio._claims[1].private_fd
    os.write(wire if wire is not None else 1, b"this is not json-rpc\n")
    await anyio.sleep(30)
    return "unreachable"


if "--many" in sys.argv:
    for i in range(3000):
        server.add_tool(echo, name=f"tool_{i}", description="one of many")
    server.add_tool(echo, name="Echo-Twin", description="collides with echo_twin")
    server.add_tool(echo, name="echo_twin", description="collides with Echo-Twin")

server.run()
