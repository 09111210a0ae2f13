"""McpManager: every declared server, their tools as one catalogue, kept fresh.

    async with McpManager(servers, settings, state_dir, reserved=builtin_names) as mcp:
        entry = mcp.entry("time_get_current_time")
        result = await mcp.call(entry, {"timezone": "Asia/Tokyo"}, timeout_s=10)

On entry each server starts in its sandbox and the manager waits (at most start_timeout_s,
all servers at once) until each first start has come up with its tool list or failed; a
server that is not up by then keeps restarting in the background and joins the catalogue
when it is. The lists are refreshed every
refresh_s; each change rebuilds the catalogue and calls the listeners.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Self

import mcp_types as types
import structlog

from somaagent.adapters.mcp.catalogue import McpToolEntry, ServerCatalogue, catalogue_of
from somaagent.adapters.mcp.config import McpServerConfig, McpSettings
from somaagent.adapters.mcp.server import McpCallError, McpServer, ServerStatus
from somaagent.closing import AsyncClosing

log = structlog.get_logger(__name__)

Listener = Callable[["McpManager"], None]


class McpManager(AsyncClosing):
    def __init__(
        self,
        servers: Iterable[McpServerConfig],
        settings: McpSettings,
        state_dir: Path,
        *,
        reserved: Iterable[str] = (),
    ) -> None:
        self.settings = settings
        self.reserved = frozenset(reserved)
        self.servers = {
            s.name: McpServer(s, settings, state_dir / "mcp" / s.name, self._tools_changed)
            for s in servers
        }
        self.catalogues: dict[str, ServerCatalogue] = {}
        self._entries: dict[str, McpToolEntry] = {}
        self._listeners: list[Listener] = []
        self._refresher: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Self:
        for server in self.servers.values():
            server.start()
        await asyncio.gather(
            *(s.wait_settled(self.settings.start_timeout_s) for s in self.servers.values())
        )
        self._refresher = asyncio.create_task(self._refresh_forever(), name="mcp-refresh")
        return self

    async def aclose(self) -> None:
        """Stop refreshing and every server. Idempotent."""
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher
            self._refresher = None
        await asyncio.gather(*(s.aclose() for s in self.servers.values()))

    def subscribe(self, listener: Listener) -> None:
        """Call `listener(manager)` now and on every catalogue change."""
        self._listeners.append(listener)
        listener(self)

    def entries(self) -> list[McpToolEntry]:
        return [self._entries[n] for n in sorted(self._entries)]

    def entry(self, platform_name: str) -> McpToolEntry | None:
        return self._entries.get(platform_name)

    def statuses(self) -> list[tuple[ServerStatus, list[str]]]:
        """Each server's status with the problems of its catalogue."""
        return [
            (s.status(), self.catalogues.get(s.name, ServerCatalogue()).problems)
            for s in self.servers.values()
        ]

    async def call(
        self, entry: McpToolEntry, arguments: dict[str, Any], timeout_s: float | None = None
    ) -> types.CallToolResult:
        server = self.servers.get(entry.server)
        if server is None:
            raise McpCallError("error", f"MCP server {entry.server} is not declared")
        timeout = timeout_s or server.config.call_timeout_s or self.settings.call_timeout_s
        return await server.call(entry.tool, arguments, timeout)

    async def refresh(self) -> None:
        """List every ready server's tools again (a failure is that server's last error)."""
        for server in self.servers.values():
            if server.state != "ready":
                continue
            try:
                await server.refresh()
            except (McpCallError, TimeoutError, OSError) as exc:
                server.last_error = f"tool list refresh failed: {exc}"

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.refresh_s)
            await self.refresh()

    def _tools_changed(self, _: McpServer) -> None:
        taken = set(self.reserved)
        catalogues = {}
        for server in self.servers.values():
            listed = [(t.name, t.description, t.input_schema) for t in server.tools]
            catalogues[server.name] = catalogue_of(
                server.name, listed, taken, self.settings.max_tools
            )
        entries = {e.platform_name: e for c in catalogues.values() for e in c.entries}
        changed = entries != self._entries
        self.catalogues, self._entries = catalogues, entries
        if changed:
            log.info("mcp.catalogue.changed", tools=len(entries))
            for listener in self._listeners:
                listener(self)
