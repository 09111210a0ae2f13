"""JSON-RPC over a sandboxed server's stdin/stdout, as the stream pair `ClientSession` takes.

The SDK's own stdio client starts the process itself; ours is started by `sandbox.py`
(bubblewrap needs inherited fds and a pre-exec hook), so this module only moves lines. A line
that is not a JSON-RPC message, or one longer than the message limit, ends the connection: the
stream cannot be trusted any more, pending calls fail at once with `closed_reason`, and the
supervisor restarts the server. The last lines of stderr are kept for the error report.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Final

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from mcp.shared.message import SessionMessage
from mcp_types import jsonrpc_message_adapter

STDERR_LINES: Final = 20
#: Seconds a server whose stdout or stdin closed is given to exit and finish its stderr.
SETTLE_S: Final = 2.0
Streams = tuple[
    MemoryObjectReceiveStream[SessionMessage | Exception], MemoryObjectSendStream[SessionMessage]
]


@dataclass
class StdioLink:
    """What the pumps learned about the connection."""

    process: asyncio.subprocess.Process
    closed_reason: str | None = None
    stderr: deque[str] = field(default_factory=lambda: deque(maxlen=STDERR_LINES))
    #: Set when the server's stdout ended (EOF) or a bad line broke the link.
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    #: Set when the server's stderr reached EOF (every line of it is in `stderr`).
    stderr_done: asyncio.Event = field(default_factory=asyncio.Event)

    def close(self, reason: str) -> None:
        """Record why the link ends (the first reason wins) and end the server."""
        if self.closed_reason is None:
            self.closed_reason = reason
        if self.process.returncode is None:
            self.process.kill()

    async def settle(self, timeout_s: float = SETTLE_S) -> None:
        """Wait (bounded) for the process to exit and its stderr to be read, so that
        `exit_reason` can say how it ended and what it printed last."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await self.stderr_done.wait()
                await self.process.wait()

    @property
    def alive(self) -> bool:
        return self.closed_reason is None and self.process.returncode is None

    def exit_reason(self) -> str:
        """Why the server is gone, for a call's ToolResult."""
        if self.closed_reason:
            return self.closed_reason
        code = self.process.returncode
        if code is None:
            return "the connection to the server closed"
        how = f"signal {-code}" if code < 0 else f"exit code {code}"
        tail = f": {self.stderr[-1]}" if self.stderr else ""
        return f"the server process ended ({how}){tail}"


async def _pump_out(
    link: StdioLink, send: MemoryObjectSendStream[SessionMessage | Exception], limit: int
) -> None:
    stdout = link.process.stdout
    assert stdout is not None
    async with send:
        if await _forward(link, stdout, send, limit):
            # EOF: the server is ending; let its exit status and last stderr lines arrive
            # before the session hears that the connection closed.
            await link.settle()
    link.ended.set()
    # Read on to EOF: asyncio reaps the process only once its pipes are drained.
    with contextlib.suppress(ValueError):
        while await stdout.read(64 * 1024):
            pass


async def _forward(
    link: StdioLink,
    stdout: asyncio.StreamReader,
    send: MemoryObjectSendStream[SessionMessage | Exception],
    limit: int,
) -> bool:
    """Each line as a message to the session, until EOF (True) or a line that breaks the
    link or a session that stopped listening (False)."""
    while True:
        try:
            line = await stdout.readline()
        except ValueError:  # asyncio's LimitOverrunError surfaces as ValueError
            link.close(f"the server sent a message over the {limit}-byte limit")
            return False
        if not line:
            return True
        if not line.strip():
            continue
        try:
            message = jsonrpc_message_adapter.validate_json(line, by_name=False)
        except ValueError as exc:
            link.close(f"malformed JSON-RPC from the server: {str(exc).splitlines()[0]}")
            return False
        try:
            await send.send(SessionMessage(message))
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            return False


async def _pump_in(link: StdioLink, receive: MemoryObjectReceiveStream[SessionMessage]) -> None:
    stdin = link.process.stdin
    assert stdin is not None
    async with receive:
        async for item in receive:
            data = item.message.model_dump_json(by_alias=True, exclude_unset=True) + "\n"
            try:
                stdin.write(data.encode())
                await stdin.drain()
            except (BrokenPipeError, ConnectionResetError):
                # Most often the server has already exited (a command that cannot start):
                # then how it ended, and its stderr, say more than the broken pipe.
                await link.settle()
                if link.process.returncode is None:
                    link.close("the server closed its input")
                return


async def _pump_err(link: StdioLink) -> None:
    stderr = link.process.stderr
    assert stderr is not None
    try:
        while chunk := await stderr.read(64 * 1024):
            for text in chunk.decode(errors="replace").splitlines():
                if text.strip():
                    link.stderr.append(text.strip()[:500])
    finally:
        link.stderr_done.set()


@asynccontextmanager
async def stdio_streams(
    link: StdioLink, limit: int
) -> AsyncIterator[
    tuple[
        MemoryObjectReceiveStream[SessionMessage | Exception],
        MemoryObjectSendStream[SessionMessage],
    ]
]:
    """(read, write) for `ClientSession`; the pumps end with the process or on exit."""
    to_session, read = anyio.create_memory_object_stream[SessionMessage | Exception](16)
    write, from_session = anyio.create_memory_object_stream[SessionMessage](16)
    tasks = [
        asyncio.create_task(_pump_out(link, to_session, limit)),
        asyncio.create_task(_pump_in(link, from_session)),
        asyncio.create_task(_pump_err(link)),
    ]
    try:
        yield read, write
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for stream in (read, write, to_session, from_session):
            await stream.aclose()
