"""`soma mcp list`: the MCP servers the executors run, their state, tools and last error.

Reads the catalogue the tool executor publishes to Redis (adapters/redis/mcp_catalogue.py):
what the running executor sees, not what the servers file says. Servers declared in the file
but absent from the catalogue are listed as "not published" (no executor has started them).
"""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any

import orjson
import redis.asyncio as aioredis
import typer
from rich.table import Table

from somaagent.adapters.mcp import load_servers
from somaagent.adapters.redis.mcp_catalogue import RedisMcpCatalogue
from somaagent.cli.common import console, reports_errors
from somaagent.services.tool_executor import ToolExecutorSettings
from somaagent.settings import repo_root

mcp_app = typer.Typer(help="Third-party MCP servers and their tools.", no_args_is_help=True)


async def read_catalogue(settings: ToolExecutorSettings) -> dict[str, Any] | None:
    redis = aioredis.Redis(
        host=settings.redis.host,
        port=settings.redis.port,
        db=settings.redis.db,
        socket_timeout=settings.redis.socket_timeout_s,
    )
    try:
        return await RedisMcpCatalogue(redis, key_prefix=settings.redis.key_prefix).read()
    finally:
        await redis.aclose()


def _rows(document: dict[str, Any] | None, declared: list[str]) -> list[list[str]]:
    servers = {s["name"]: s for s in (document or {}).get("servers", [])}
    offered = {t["platform_name"] for t in (document or {}).get("tools", [])}
    rows = []
    for name in sorted(set(servers) | set(declared)):
        s = servers.get(name)
        if s is None:
            rows.append([name, "-", "not published", "", ""])
            continue
        tools = [f"{name}_{t}" if f"{name}_{t}" in offered else f"({t})" for t in s["tools"]]
        errors = [e for e in [s.get("last_error"), *s.get("problems", [])] if e]
        rows.append([name, s["transport"], s["state"], "\n".join(tools), "\n".join(errors)])
    return rows


@mcp_app.command("list")
@reports_errors
def mcp_list(
    as_json: Annotated[bool, typer.Option("--json", help="print the published document")] = False,
) -> None:
    """Servers, their state, their tools (in parentheses: listed but not offered) and errors."""
    settings = ToolExecutorSettings()
    document = asyncio.run(read_catalogue(settings))
    if as_json:
        console.print_json(orjson.dumps(document).decode())
        return
    declared = [s.name for s in load_servers(settings.mcp_servers_file(), repo_root())]
    table = Table("server", "transport", "state", "tools", "last error / problems")
    for row in _rows(document, declared):
        table.add_row(*row)
    console.print(table)
    if document is not None:
        age = time.time() - float(document.get("published_at", 0))
        console.print(f"published by the tool executor {age:.0f} s ago")
