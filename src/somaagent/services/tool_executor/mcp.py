"""The executor's MCP part: start the declared servers, register their tools, publish them.

`attach_mcp` reads the servers file (default personas/mcp_servers.yml), starts an McpManager
on the executor's exit stack, keeps the ToolRegistry offering its catalogue (McpToolset) and
publishes the catalogue to Redis for the worker and `soma mcp list` (RedisMcpCatalogue).
"""

from __future__ import annotations

import asyncio
import contextlib
from contextlib import AsyncExitStack
from dataclasses import asdict
from typing import Any, Final

import redis.asyncio as aioredis
import structlog
from redis.exceptions import RedisError

from somaagent.adapters.mcp import McpManager, load_servers
from somaagent.adapters.redis.mcp_catalogue import RedisMcpCatalogue
from somaagent.services.tool_executor.settings import ToolExecutorSettings
from somaagent.settings import repo_root
from somaagent.tools.mcp_tools import McpToolset
from somaagent.tools.registry import ToolRegistry

log = structlog.get_logger(__name__)

PUBLISH_S: Final = 5.0


def catalogue_document(manager: McpManager) -> dict[str, Any]:
    """What the worker and `soma mcp list` read (see RedisMcpCatalogue)."""
    servers = [{**asdict(status), "problems": problems} for status, problems in manager.statuses()]
    tools = [asdict(entry) for entry in manager.entries()]
    return {"servers": servers, "tools": tools}


class CataloguePublisher:
    """Writes the catalogue now, on each change and every PUBLISH_S (server states move)."""

    def __init__(self, manager: McpManager, store: RedisMcpCatalogue) -> None:
        self.manager = manager
        self.store = store
        self._wake = asyncio.Event()

    def changed(self, _: McpManager) -> None:
        self._wake.set()

    async def run(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self.store.write(catalogue_document(self.manager), PUBLISH_S)
            except RedisError as exc:
                log.warning("mcp.catalogue.publish_failed", error=repr(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), PUBLISH_S)


async def attach_mcp(
    stack: AsyncExitStack, registry: ToolRegistry, settings: ToolExecutorSettings
) -> McpManager | None:
    """Start the declared servers and offer their tools; None when none is declared."""
    servers = await asyncio.to_thread(load_servers, settings.mcp_servers_file(), repo_root())
    if not servers:
        return None
    manager = McpManager(servers, settings.mcp, settings.state_dir, reserved=registry.names())
    await stack.enter_async_context(manager)
    McpToolset(manager, registry, settings.state_dir / "mcp-out", settings.tools.limits)
    redis = aioredis.Redis(
        host=settings.redis.host,
        port=settings.redis.port,
        db=settings.redis.db,
        socket_timeout=settings.redis.socket_timeout_s,
    )
    stack.push_async_callback(redis.aclose)
    publisher = CataloguePublisher(
        manager, RedisMcpCatalogue(redis, key_prefix=settings.redis.key_prefix)
    )
    manager.subscribe(publisher.changed)
    task = asyncio.create_task(publisher.run(), name="mcp-catalogue-publisher")
    stack.push_async_callback(_cancel, task)
    log.info("mcp.attached", servers=[s.name for s in servers], tools=len(manager.entries()))
    return manager


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
