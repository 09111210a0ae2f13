"""The worker's tool catalogue with the MCP tools the executors publish.

Built-in tools come from their classes (ToolClassCatalog); MCP tools from the catalogue the
executor writes to Redis (adapters/redis/mcp_catalogue.py) with each tool's input schema as
the server gave it. `specs()` is synchronous (the turn asks it inline), so it answers from the
last document read; a task started with the catalogue re-reads it every `ttl_s` (one Redis
GET a second per worker), so a tool published now is offered within about a second. A
persona offers an MCP tool only when its `tools:` list names it.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Final

import structlog

from somaagent.adapters.redis.mcp_catalogue import RedisMcpCatalogue
from somaagent.application.agent_loop import ToolSpec
from somaagent.application.conversation.ports import ToolCatalog

log = structlog.get_logger(__name__)

TTL_S: Final = 1.0


class McpToolCatalog:
    def __init__(
        self, builtin: ToolCatalog, store: RedisMcpCatalogue, ttl_s: float = TTL_S
    ) -> None:
        self.builtin = builtin
        self.store = store
        self.ttl_s = ttl_s
        self._mcp: dict[str, ToolSpec] = {}
        self._reader: asyncio.Task[None] | None = None
        self._first = asyncio.Event()
        self._start()

    def specs(self, names: list[str]) -> list[ToolSpec]:
        self._start()
        builtin = {s.name: s for s in self.builtin.specs(names)}
        found = {**self._mcp, **builtin}
        return [found[n] for n in names if n in found]

    async def refresh(self) -> None:
        """Read the published catalogue now (an absent one means no MCP tools)."""
        document = await self.store.read()
        try:
            self._mcp = {
                t["platform_name"]: ToolSpec(
                    t["platform_name"], t["description"], t["input_schema"]
                )
                for t in (document or {}).get("tools") or []
            }
        except (KeyError, TypeError) as exc:
            log.warning("mcp.catalogue.malformed", error=repr(exc))

    async def settled(self) -> None:
        """Wait for the first read (start-up and tests)."""
        await self._first.wait()

    async def aclose(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader

    def _start(self) -> None:
        if self._reader is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # built outside a loop: the first specs() call in the loop starts it
        self._reader = loop.create_task(self._read_forever(), name="mcp-catalogue-read")

    async def _read_forever(self) -> None:
        while True:
            await self.refresh()
            self._first.set()
            await asyncio.sleep(self.ttl_s)
