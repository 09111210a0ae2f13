"""McpServer: one declared server, kept alive across calls by a supervisor task.

    starting -> ready -> (process dies / bad message) -> restarting -> starting -> ...

The supervisor owns the connection (the SDK's ClientSession and its transport are entered and
left in that one task); calls from any task go through the live session. When the server dies,
pending calls fail at once with the reason and the supervisor restarts it after a backoff
(restart_min_s, doubling to restart_max_s while it fails to come up; a server that came up
and then died restarts after restart_min_s). A streamable-HTTP server has no process to
watch: a call that finds its connection closed or its session forgotten fails with that
reason and the supervisor connects again (a new session) the same way.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

import anyio
import mcp_types as types
import structlog
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError
from mcp_types import CONNECTION_CLOSED, INTERNAL_ERROR, INVALID_REQUEST

from somaagent.adapters.mcp.config import McpServerConfig, McpSettings
from somaagent.adapters.mcp.sandbox import SandboxedProcess, start_server
from somaagent.adapters.mcp.transport import StdioLink, stdio_streams

log = structlog.get_logger(__name__)

ServerState = Literal["starting", "ready", "restarting", "stopped"]


class McpCallError(Exception):
    """A call that did not produce a tool result; `status` is the ToolResult status."""

    def __init__(self, status: Literal["error", "timeout"], reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class ServerStatus:
    """What `soma mcp list` shows for one server."""

    name: str
    transport: str
    state: ServerState
    tools: list[str]
    last_error: str | None
    restarts: int
    pid: int | None


class McpServer:
    def __init__(
        self,
        config: McpServerConfig,
        settings: McpSettings,
        workdir: Path,
        on_tools: Callable[[McpServer], None] | None = None,
    ) -> None:
        self.config = config
        self.settings = settings
        self.workdir = workdir
        self.on_tools = on_tools
        self.state: ServerState = "stopped"
        self.last_error: str | None = None
        self.restarts = 0
        self.tools: list[types.Tool] = []
        self._session: ClientSession | None = None
        self._link: StdioLink | None = None
        self._proc: SandboxedProcess | None = None
        self._ready = asyncio.Event()
        #: Set when an HTTP server's connection or session is gone (no process to watch).
        self._lost = asyncio.Event()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._served = False
        #: Set once the first start has come up or failed (start-up need not wait longer).
        self._settled = asyncio.Event()

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def pid(self) -> int | None:
        return self._proc.process.pid if self._proc is not None else None

    def status(self) -> ServerStatus:
        return ServerStatus(
            self.name,
            self.config.transport,
            self.state,
            [t.name for t in self.tools],
            self.last_error,
            self.restarts,
            self.pid,
        )

    def start(self) -> None:
        if self._task is None:
            self._stop.clear()
            self._task = asyncio.create_task(self._supervise(), name=f"mcp-{self.name}")

    async def wait_ready(self, timeout_s: float) -> bool:
        try:
            await asyncio.wait_for(self._ready.wait(), timeout_s)
        except TimeoutError:
            return False
        return True

    async def wait_settled(self, timeout_s: float) -> None:
        """Until the first start came up or failed, at most `timeout_s`."""
        try:
            await asyncio.wait_for(self._settled.wait(), timeout_s)
        except TimeoutError:
            return

    async def aclose(self) -> None:
        """Stop the supervisor and the server. Idempotent."""
        self._stop.set()
        if self._task is not None:
            task, self._task = self._task, None
            await task
        self.state = "stopped"

    async def _supervise(self) -> None:
        delay = self.settings.restart_min_s
        while not self._stop.is_set():
            try:
                await self._serve_once()
            except Exception as exc:  # one server's failure is its own; the executor goes on
                repeated = self.last_error == (reason := _describe(exc, self._link))
                self.last_error = reason
                # the same failure again (a server that stays down restarts again and again):
                # one line, no traceback; rendering each one starved the executor's event loop
                # (policy calls timed out) on a busy host
                if repeated:
                    log.warning("mcp.server.failed", server=self.name, reason=reason)
                else:
                    log.exception("mcp.server.failed", server=self.name, reason=reason)
            self._settled.set()
            if self._stop.is_set():
                break
            self.state = "restarting"
            self.restarts += 1
            if self._served:  # it came up and answered: a later death restarts at once
                delay = self.settings.restart_min_s
            await _sleep_unless(self._stop, delay)
            delay = min(delay * 2, self.settings.restart_max_s)
        self.state = "stopped"

    async def _serve_once(self) -> None:
        self.state = "starting"
        self._link, self._proc, self._served = None, None, False
        self._lost.clear()
        async with self._connected() as session:
            await asyncio.wait_for(session.initialize(), self.settings.start_timeout_s)
            await self.refresh(session)
            self._session, self._served = session, True
            self.state = "ready"
            self._ready.set()
            self._settled.set()
            log.info("mcp.server.ready", server=self.name, tools=len(self.tools), pid=self.pid)
            try:
                await self._until_closed()
            finally:
                self._ready.clear()
                self._session = None
        if self._link is not None and not self._stop.is_set():
            self.last_error = self._link.exit_reason()

    async def _until_closed(self) -> None:
        waits: list[asyncio.Task[Any]] = [
            asyncio.create_task(self._stop.wait()),
            asyncio.create_task(self._lost.wait()),
        ]
        if self._link is not None:
            waits.append(asyncio.create_task(self._link.ended.wait()))
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in waits:
                task.cancel()

    @asynccontextmanager
    async def _connected(self) -> AsyncIterator[ClientSession]:
        if self.config.url:
            async with self._http() as session:
                yield session
            return
        self._proc = await start_server(self.config, self.workdir, self.settings)
        self._link = StdioLink(self._proc.process)
        try:
            async with (
                stdio_streams(self._link, self.settings.max_message_bytes) as (read, write),
                ClientSession(read, write) as session,
            ):
                yield session
        finally:
            await self._proc.stop()

    @asynccontextmanager
    async def _http(self) -> AsyncIterator[ClientSession]:
        assert self.config.url is not None
        client = create_mcp_http_client(headers=self.config.headers)
        async with (
            client,
            streamable_http_client(self.config.url, http_client=client) as (read, write),
            ClientSession(read, write) as session,
        ):
            yield session

    async def refresh(self, session: ClientSession | None = None) -> list[types.Tool]:
        """List the server's tools (every page, at most max_tools) and tell the listener."""
        session = session or self._session
        if session is None:
            raise McpCallError("error", f"MCP server {self.name} is {self.state}")
        tools: list[types.Tool] = []
        cursor: str | None = None
        while True:
            params = types.PaginatedRequestParams(cursor=cursor) if cursor else None
            page = await asyncio.wait_for(
                session.list_tools(params=params), self.settings.start_timeout_s
            )
            tools.extend(page.tools)
            cursor = page.next_cursor
            if not cursor or len(tools) > self.settings.max_tools:
                break
        self.tools = tools
        if self.on_tools is not None:
            self.on_tools(self)
        return tools

    async def call(
        self, tool: str, arguments: dict[str, Any], timeout_s: float
    ) -> types.CallToolResult:
        """One tools/call; McpCallError with status and reason when there is no result."""
        started = time.monotonic()
        session, link = await self._live(timeout_s)
        left = max(0.01, timeout_s - (time.monotonic() - started))
        try:
            return await asyncio.wait_for(session.call_tool(tool, arguments), left)
        except TimeoutError:
            raise McpCallError(
                "timeout", f"{self.name} gave no answer within {timeout_s:g} s"
            ) from None
        except (anyio.ClosedResourceError, anyio.BrokenResourceError) as exc:
            raise self._lost_connection("the session is closed") from exc
        except MCPError as exc:
            if link is not None and (link.closed_reason or link.process.returncode is not None):
                await _settle(link)
                raise McpCallError(
                    "error", f"{self.name} failed mid-call: {link.exit_reason()}"
                ) from exc
            if self.config.url and _session_gone(exc):
                raise self._lost_connection(exc.message) from exc
            raise McpCallError("error", f"{self.name}: {exc}") from exc

    def _lost_connection(self, detail: str) -> McpCallError:
        """An HTTP server that stopped answering: the supervisor reconnects (new session)."""
        self.last_error = f"lost the connection to {self.config.url} ({detail})"
        self._lost.set()
        return McpCallError("error", f"{self.name} failed mid-call: {self.last_error}")

    async def _live(self, timeout_s: float) -> tuple[ClientSession, StdioLink | None]:
        """The current session once the server is ready on a live process."""
        deadline = time.monotonic() + min(timeout_s, self.settings.start_timeout_s)
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not await self.wait_ready(left):
                reason = f"MCP server {self.name} is {self.state}"
                detail = f"{reason}: {self.last_error}" if self.last_error else reason
                raise McpCallError("error", detail)
            session, link = self._session, self._link
            if session is not None and (link is None or link.alive):
                return session, link
            await asyncio.sleep(0.02)  # the supervisor is noticing the death

    def kill(self) -> None:
        """SIGKILL the server's launcher (operators and tests; the supervisor restarts it)."""
        if self._proc is not None and self._proc.process.returncode is None:
            self._proc.process.kill()


#: What the SDK's HTTP transport reports when the request never reached a live session:
#: the connection closed, HTTP 404 on the session, another HTTP error status without a
#: JSON-RPC body (server-everything answers 400 to a session id it does not know).
_TRANSPORT_ERRORS: Final = {
    (INVALID_REQUEST, "Session terminated"),
    (INTERNAL_ERROR, "Server returned an error response"),
}


def _session_gone(exc: MCPError) -> bool:
    """A transport error (reconnect), not the server's answer to the call."""
    return exc.code == CONNECTION_CLOSED or (exc.code, exc.message) in _TRANSPORT_ERRORS


async def _settle(link: StdioLink) -> None:
    """Give a dying process a moment to be reaped, so the reason names its exit."""
    if link.process.returncode is None:
        try:
            await asyncio.wait_for(link.process.wait(), 1.0)
        except TimeoutError:
            return


async def _sleep_unless(stop: asyncio.Event, delay_s: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), delay_s)
    except TimeoutError:
        return


def _describe(exc: BaseException, link: StdioLink | None) -> str:
    if link is not None and (link.closed_reason or link.process.returncode is not None):
        return link.exit_reason()
    if isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        return _describe(exc.exceptions[0], None)
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
